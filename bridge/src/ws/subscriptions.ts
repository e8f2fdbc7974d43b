// Who listens to whom, and getting each socket every event of its users:
// first what it missed (from the database, after the seq it names), then
// live ones, handed over without a gap or a duplicate. Live events go out
// with the transport's publish on one topic per user; a socket joins the
// topic in the same tick in which it has caught up with what the feed has
// published.

import type { Auth } from '../auth.js';
import type { Sql } from '../db.js';
import type { EarningEventRecord } from '../earning-events.js';
import type { EarningFeed } from '../feed/earning-feed.js';
import { ProductError, internalError, unknownUser } from '../errors.js';
import { describe } from '../failure.js';
import { eventsAfter, lastSeqOf } from '../earning-events.js';
import { userExists } from '../ledger.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { productErrorFromDatabase } from '../database-errors.js';
import type { Peer, TransportServer } from '../transport/transport.js';
import { closeCodeOf, closeCodes, frames, maxSubscriptionsPerSocket, type ClientMessage } from './protocol.js';

export interface SocketData {
  /**
   * Subscriptions of this socket, each "starting" until it has caught up,
   * then "live". Compared by identity: a subscription that was dropped and
   * made again while the first was still starting is a different object.
   */
  subscriptions: Map<number, Subscription>;
  closed: boolean;
  /** Resolves waiters when the socket's backpressure drains. */
  drained: Array<() => void>;
  /** The URL's query (/ws?userId=2&after=17&token=…): its subscription is made at open. */
  query: string;
}

export interface Subscription {
  state: 'starting' | 'live';
}

export type Socket = Peer<SocketData>;

const replayPageSize = 1000;
const feedLagWaitMs = 20;
const feedLagMaxWaitMs = 5000;

export const topicOf = (userId: number) => `user:${userId}`;

export function createSubscriptions(options: {
  topics: Pick<TransportServer, 'publish'>;
  sql: Sql;
  feed: EarningFeed;
  auth: Auth;
  log: Logger;
  metrics: Metrics;
  maxBackpressureBytes: number;
}) {
  const { sql, auth, log, metrics, maxBackpressureBytes } = options;
  /** Sockets per user, live or catching up: for backpressure checks and unwatching. */
  const socketsOf = new Map<number, Set<Socket>>();

  function send(ws: Socket, frame: string): void {
    if (!ws.data.closed) ws.send(frame);
  }

  function join(ws: Socket, userId: number): void {
    let sockets = socketsOf.get(userId);
    if (!sockets) socketsOf.set(userId, (sockets = new Set()));
    sockets.add(ws);
  }

  function leave(ws: Socket, userId: number): void {
    ws.data.subscriptions.delete(userId);
    const sockets = socketsOf.get(userId);
    sockets?.delete(ws);
    if (sockets && sockets.size === 0) {
      socketsOf.delete(userId);
      options.feed.unwatch(userId);
    }
  }

  async function subscribe(ws: Socket, userId: number, after: number | undefined, token: string | undefined): Promise<void> {
    const data = ws.data;
    if (data.subscriptions.has(userId)) {
      throw new ProductError('ALREADY_SUBSCRIBED', `already subscribed to user ${userId}`, { userId });
    }
    if (data.subscriptions.size >= maxSubscriptionsPerSocket) {
      throw new ProductError('TOO_MANY_SUBSCRIPTIONS', `at most ${maxSubscriptionsPerSocket} users per connection`, { userId });
    }
    const subscription: Subscription = { state: 'starting' };
    data.subscriptions.set(userId, subscription);
    join(ws, userId);
    // False once the socket closed or this subscription was dropped (and maybe made anew).
    const current = () => !data.closed && data.subscriptions.get(userId) === subscription;
    const feed = options.feed;
    try {
      await auth.authorizeRead(userId, token);
      if (!current()) return;
      if (!(await userExists(sql, userId))) throw unknownUser(userId);
      if (!current()) return;
      const lastSeq = await feed.watch(userId);
      if (after !== undefined && current()) await waitForFeedToReach(userId, after);
      if (!current()) {
        // The feed may have started following the user for nobody.
        if (!socketsOf.has(userId)) feed.unwatch(userId);
        return;
      }
      ws.cork(() => {
        send(ws, frames.subscribed(userId, Math.max(lastSeq, feed.lastSeq(userId) ?? lastSeq)));
        if (after === undefined) goLive(ws, userId, subscription);
      });
      if (after !== undefined) await replayThenGoLive(ws, userId, after, subscription, current);
    } catch (error) {
      if (current()) leave(ws, userId);
      throw error;
    }
  }

  function goLive(ws: Socket, userId: number, subscription: Subscription): void {
    subscription.state = 'live';
    ws.subscribe(topicOf(userId));
  }

  /**
   * Sends the events after `after` from the database until it has caught up
   * with what the feed has published, then joins the live topic in that same
   * tick: what the feed publishes next is exactly what comes after.
   */
  async function replayThenGoLive(ws: Socket, userId: number, after: number, subscription: Subscription, current: () => boolean): Promise<void> {
    const feed = options.feed;
    let cursor = after;
    /** Read from the database, published by the feed, not yet sent. */
    let unsent: Array<{ seq: number; json: string }> = [];
    for (;;) {
      if (unsent.length === 0) {
        const page = await eventsAfter(sql, userId, cursor, replayPageSize);
        if (!current()) return;
        const published = feed.lastSeq(userId) ?? 0;
        unsent = page.filter((event) => event.seq <= published);
      }
      let sent = 0;
      ws.cork(() => {
        // Sent until the socket holds half its allowed backpressure: the
        // replay waits for room rather than overflow a slow reader.
        while (sent < unsent.length && ws.bufferedAmount() < maxBackpressureBytes / 2) send(ws, unsent[sent++]!.json);
        cursor = unsent[sent - 1]?.seq ?? cursor;
        unsent = unsent.slice(sent);
        if (unsent.length === 0 && cursor >= (feed.lastSeq(userId) ?? 0)) goLive(ws, userId, subscription);
      });
      metrics.eventsDelivered.inc({ path: 'replay' }, sent);
      if (!current() || subscription.state === 'live') return;
      // Not caught up yet: more to send, a full page, or the feed published
      // more meanwhile. Either way, go on once the socket has room.
      await drained(ws);
    }
  }

  /**
   * A client may name a seq this bridge's feed has not published yet (it saw
   * it through another bridge): wait for the feed rather than send it twice.
   */
  async function waitForFeedToReach(userId: number, after: number): Promise<void> {
    const since = Date.now();
    while (after > (options.feed.lastSeq(userId) ?? 0)) {
      if (after > (await lastSeqOf(sql, userId))) {
        throw new ProductError('INVALID_AFTER', `user ${userId} has no earning with seq ${after}; after must be a seq you received`, { userId });
      }
      if (Date.now() - since > feedLagMaxWaitMs) {
        throw new ProductError('LIVE_EVENTS_DELAYED', 'live events are delayed; try again shortly', { userId, retryAfterSeconds: 1 });
      }
      await new Promise((resolve) => setTimeout(resolve, feedLagWaitMs));
    }
  }

  /** Waits while the socket holds more than half its allowed backpressure. */
  function drained(ws: Socket): Promise<void> {
    if (ws.data.closed || ws.bufferedAmount() < maxBackpressureBytes / 2) return Promise.resolve();
    return new Promise((resolve) => ws.data.drained.push(resolve));
  }

  function checkBackpressure(ws: Socket): void {
    if (!ws.data.closed && ws.bufferedAmount() > maxBackpressureBytes) {
      metrics.slowConsumersClosed.inc();
      log.info({ subscriptions: [...ws.data.subscriptions.keys()] }, 'closing a socket that cannot keep up');
      ws.end(closeCodes.tooSlow, 'too slow: reconnect and resume with after');
    }
  }

  return {
    /** Handles one client message; errors become error frames (or a 4401/4403 close). */
    async handle(ws: Socket, message: ClientMessage): Promise<void> {
      try {
        if (message.type === 'unsubscribe') {
          if (!ws.data.subscriptions.has(message.userId)) {
            throw new ProductError('NOT_SUBSCRIBED', `not subscribed to user ${message.userId}`, { userId: message.userId });
          }
          ws.unsubscribe(topicOf(message.userId));
          leave(ws, message.userId);
          send(ws, frames.unsubscribed(message.userId));
          return;
        }
        await subscribe(ws, message.userId, message.after, message.token);
      } catch (error) {
        this.reject(ws, error, message.userId);
      }
    },

    reject(ws: Socket, error: unknown, userId?: number): void {
      if (ws.data.closed) return;
      const known = error instanceof ProductError ? error : productErrorFromDatabase(error);
      if (!known) log.error({ err: describe(error) }, 'websocket request failed');
      const failure = known ?? internalError();
      const closeCode = closeCodeOf(failure);
      ws.cork(() => {
        send(ws, frames.error(failure, userId));
        if (closeCode !== undefined) ws.end(closeCode, failure.code);
      });
    },

    /** A live event from the feed: to every socket on its user's topic. */
    publish(event: EarningEventRecord): void {
      const receivers = options.topics.publish(topicOf(event.userId), event.json);
      if (receivers === 0) return;
      metrics.eventsDelivered.inc({ path: 'live' }, receivers);
      const createdAt = Date.parse(/"createdAt":"([^"]+)"/.exec(event.json)?.[1] ?? '');
      if (Number.isFinite(createdAt)) metrics.commitToSend.observe(Math.max(0, Date.now() - createdAt) / 1000);
      for (const ws of [...(socketsOf.get(event.userId) ?? [])]) checkBackpressure(ws);
    },

    onDrain(ws: Socket): void {
      const data = ws.data;
      if (ws.bufferedAmount() >= maxBackpressureBytes / 2) return;
      for (const resolve of data.drained.splice(0)) resolve();
    },

    onClose(ws: Socket): void {
      const data = ws.data;
      data.closed = true;
      for (const userId of [...data.subscriptions.keys()]) leave(ws, userId);
      for (const resolve of data.drained.splice(0)) resolve();
    },

  };
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;
