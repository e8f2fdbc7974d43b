// Flow control per subscription: the events already live in the database,
// numbered per user, so a socket that reads slower than PostgreSQL writes is
// never fed a backlog from memory and never cut off for being slow. While a
// socket keeps up, its subscriptions are live (each event sent as the feed
// delivers it). When its buffered bytes pass the high-water mark they leave
// the live path at the last seq handed over and read on from the database in
// pages, one page each time the socket is below the low-water mark; a page
// that reaches what the feed has published goes live in the same tick. Only a socket that
// makes no progress at all (its buffer does not drain) for the stall timeout
// is closed, with 4008.

import type { Sql } from '../db.js';
import { eventsAfter } from '../earning-events.js';
import type { EarningFeed } from '../feed/earning-feed.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Peer } from '../transport/transport.js';
import { closeCodes, frames } from './protocol.js';

export interface Subscription {
  userId: number;
  /**
   * starting: authorising and finding its starting point; paging: reading
   * from the database after `cursor`; live: on its user's topic; ended:
   * unsubscribed or its socket closed. Compared by identity: one dropped and
   * made again is a different object.
   */
  state: 'starting' | 'paging' | 'live' | 'ended';
  /** The last seq handed to the socket (while paging). */
  cursor: number;
}

export interface FlowState {
  /** Waiting for the socket to go below the low-water mark. */
  belowLowWater: Array<() => void>;
  /** When the socket last had nothing buffered, or its buffer last went down. */
  lastProgressAt: number;
  /** Its buffered bytes at the watchdog's last look. */
  lastBuffered: number;
}

export interface FlowSocketData {
  subscriptions: Map<number, Subscription>;
  closed: boolean;
  flow: FlowState;
}

export type FlowSocket = Peer<FlowSocketData>;

export interface FlowControlOptions {
  sql: Sql;
  feed: EarningFeed;
  log: Logger;
  metrics: Metrics;
  highWaterBytes: number;
  stallTimeoutMs: number;
  /** Live subscribers of each user: the feed's events are sent to these sockets. */
  live: Map<number, Set<FlowSocket>>;
  /** Every open socket, for the stall watchdog. */
  sockets(): Iterable<FlowSocket>;
}

const pageSize = 500;

export const newFlowState = (): FlowState => ({ belowLowWater: [], lastProgressAt: Date.now(), lastBuffered: 0 });

export function createFlowControl(options: FlowControlOptions) {
  const { sql, feed, metrics, highWaterBytes } = options;
  const lowWaterBytes = highWaterBytes / 4;
  let catchingUp = 0;

  function goLive(ws: FlowSocket, subscription: Subscription): void {
    if (subscription.state === 'paging') catchingUp -= 1;
    subscription.state = 'live';
    let sockets = options.live.get(subscription.userId);
    if (!sockets) options.live.set(subscription.userId, (sockets = new Set()));
    sockets.add(ws);
  }

  function leaveLive(ws: FlowSocket, userId: number): void {
    const sockets = options.live.get(userId);
    sockets?.delete(ws);
    if (sockets?.size === 0) options.live.delete(userId);
  }

  function startPaging(ws: FlowSocket, subscription: Subscription, cursor: number): void {
    subscription.state = 'paging';
    subscription.cursor = cursor;
    catchingUp += 1;
    ws.send(frames.catchingUp(subscription.userId, cursor));
    void pageUntilLive(ws, subscription).catch((error: unknown) => {
      options.log.warn({ err: error, userId: subscription.userId }, 'cannot read events for a subscription that is catching up; closing its socket');
      ws.end(closeCodes.tryAgainLater, 'cannot read your events right now: reconnect shortly and resume with after');
    });
  }

  /** Reads pages after the subscription's cursor until it has caught up with the feed, then goes live. */
  async function pageUntilLive(ws: FlowSocket, subscription: Subscription): Promise<void> {
    const { userId } = subscription;
    const current = () => subscription.state === 'paging' && !ws.data.closed;
    while (current()) {
      await belowLowWater(ws);
      if (!current()) return;
      const page = await eventsAfter(sql, userId, subscription.cursor, pageSize);
      if (!current()) return;
      metrics.eventPagesServed.inc();
      const published = feed.lastSeq(userId) ?? 0;
      let sent = 0;
      ws.cork(() => {
        for (const event of page) {
          if (event.seq > published || ws.bufferedAmount() >= highWaterBytes) break;
          ws.send(event.json);
          subscription.cursor = event.seq;
          sent += 1;
        }
        // In the same tick as the last event sent: what the feed publishes next comes right after it.
        if (subscription.cursor >= published) {
          goLive(ws, subscription);
          ws.send(frames.live(userId, subscription.cursor));
        }
      });
      metrics.eventsDelivered.inc({ path: 'page' }, sent);
    }
  }

  function belowLowWater(ws: FlowSocket): Promise<void> {
    if (ws.data.closed || ws.bufferedAmount() < lowWaterBytes) return Promise.resolve();
    return new Promise((resolve) => ws.data.flow.belowLowWater.push(resolve));
  }

  function wakeIfBelowLowWater(ws: FlowSocket): void {
    if (ws.data.closed || ws.bufferedAmount() < lowWaterBytes) {
      for (const resolve of ws.data.flow.belowLowWater.splice(0)) resolve();
    }
  }

  // The watchdog: progress is an empty buffer, a buffer smaller than at the
  // last look, or a drain; a socket with bytes waiting and no progress for
  // the stall timeout is closed. A look that comes late means the bridge's
  // own event loop was busy (a burst published in one loop), when no socket
  // could drain: that time is not held against them.
  const everyMs = Math.min(1000, options.stallTimeoutMs / 4);
  let lastLookAt = Date.now();
  const watchdog = setInterval(() => {
    const now = Date.now();
    const late = now - lastLookAt > 2 * everyMs;
    lastLookAt = now;
    for (const ws of options.sockets()) {
      if (ws.data.closed) continue;
      const { flow } = ws.data;
      const buffered = ws.bufferedAmount();
      if (late || buffered === 0 || buffered < flow.lastBuffered) flow.lastProgressAt = now;
      flow.lastBuffered = buffered;
      if (buffered > 0 && now - flow.lastProgressAt >= options.stallTimeoutMs) {
        metrics.stalledSocketsClosed.inc();
        options.log.info({ subscriptions: [...ws.data.subscriptions.keys()] }, 'closing a socket that made no progress');
        ws.end(closeCodes.stalled, `no progress for ${Math.round(options.stallTimeoutMs / 1000)} s: reconnect and resume with after`);
        continue;
      }
      wakeIfBelowLowWater(ws);
    }
  }, everyMs);
  watchdog.unref();

  return {
    /** Subscriptions paging from the database now. */
    catchingUp: () => catchingUp,

    /** A new subscription: live at once, or paging from `after` first when the feed has published more. */
    begin(ws: FlowSocket, subscription: Subscription, after: number | undefined): void {
      if (after === undefined || after >= (feed.lastSeq(subscription.userId) ?? 0)) goLive(ws, subscription);
      else startPaging(ws, subscription, after);
    },

    /** After a live event went to `ws`: a socket over the high-water mark moves its live subscriptions to paging. */
    checkHighWater(ws: FlowSocket): void {
      if (ws.data.closed || ws.bufferedAmount() <= highWaterBytes) return;
      for (const subscription of ws.data.subscriptions.values()) {
        if (subscription.state !== 'live') continue;
        leaveLive(ws, subscription.userId);
        // Everything the feed has published for this user went to the socket.
        startPaging(ws, subscription, feed.lastSeq(subscription.userId) ?? 0);
      }
    },

    /** Ends a subscription (unsubscribed, or its socket closed). */
    end(ws: FlowSocket, subscription: Subscription): void {
      if (subscription.state === 'paging') catchingUp -= 1;
      if (subscription.state === 'live') leaveLive(ws, subscription.userId);
      subscription.state = 'ended';
    },

    onDrain(ws: FlowSocket): void {
      ws.data.flow.lastProgressAt = Date.now();
      wakeIfBelowLowWater(ws);
    },

    onClose(ws: FlowSocket): void {
      for (const resolve of ws.data.flow.belowLowWater.splice(0)) resolve();
    },

    stop(): void {
      clearInterval(watchdog);
    },
  };
}

export type FlowControl = ReturnType<typeof createFlowControl>;
