// Who listens to whom: subscribing (authorised, from a starting point the
// feed has reached), unsubscribing, and every event of a user to each of its
// subscribers, without a gap or a duplicate. Live events are sent to each
// live subscriber as the feed delivers them; flow-control.ts moves a
// subscription between live and paging from the database at the socket's pace.

import type { Auth } from '../auth.js';
import type { Sql } from '../db.js';
import { lastSeqOf, type EarningEventRecord } from '../earning-events.js';
import type { EarningFeed } from '../feed/earning-feed.js';
import { ProductError, internalError, unknownUser } from '../errors.js';
import { describe } from '../failure.js';
import { userExists } from '../ledger.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { productErrorFromDatabase } from '../database-errors.js';
import type { Peer } from '../transport/transport.js';
import { createFlowControl, type FlowSocketData, type Subscription } from './flow-control.js';
import { closeCodeOf, frames, maxSubscriptionsPerSocket, type ClientMessage } from './protocol.js';

export interface SocketData extends FlowSocketData {
  /** The URL's query (/ws?userId=2&after=17&token=…): its subscription is made at open. */
  query: string;
  /** Per user, the answer to the last subscribe to that user still being worked on: the next subscribe waits for it. */
  answering: Map<number, Promise<void>>;
}

export type Socket = Peer<SocketData>;

const feedLagWaitMs = 20;
const feedLagMaxWaitMs = 5000;

/** What subscriptions run on; the server passes its own. */
export interface SubscriptionSettings {
  sql: Sql;
  feed: EarningFeed;
  auth: Auth;
  log: Logger;
  metrics: Metrics;
  /** Buffered bytes past which a socket's subscriptions switch from live to paging (read from the database at its pace). */
  highWaterBytes: number;
  /** A socket that drains nothing for this long is closed with 4008. */
  stallTimeoutMs: number;
}

export function createSubscriptions(options: SubscriptionSettings & { openSockets: Set<Socket> }) {
  const { sql, auth, log, metrics, feed } = options;
  /** Sockets per user, whatever their subscription's state: for high-water checks and unwatching. */
  const socketsOf = new Map<number, Set<Socket>>();
  /** Live subscribers per user. */
  const live = new Map<number, Set<Socket>>();
  const flow = createFlowControl({ ...options, live: live as Map<number, Set<Peer<FlowSocketData>>>, sockets: () => options.openSockets });
  /** Per subscription made with a token that has an exp: cancels the timer that closes its socket (4401) when exp passes. */
  const tokenExpiries = new Map<Subscription, () => void>();

  function send(ws: Socket, frame: string): void {
    if (!ws.data.closed) ws.send(frame);
  }

  function join(ws: Socket, userId: number): void {
    let sockets = socketsOf.get(userId);
    if (!sockets) socketsOf.set(userId, (sockets = new Set()));
    sockets.add(ws);
  }

  function leave(ws: Socket, subscription: Subscription): void {
    const { userId } = subscription;
    tokenExpiries.get(subscription)?.();
    tokenExpiries.delete(subscription);
    flow.end(ws, subscription);
    if (ws.data.subscriptions.get(userId) === subscription) ws.data.subscriptions.delete(userId);
    const sockets = socketsOf.get(userId);
    sockets?.delete(ws);
    if (sockets && sockets.size === 0) {
      socketsOf.delete(userId);
      feed.unwatch(userId);
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
    const subscription: Subscription = { userId, state: 'starting', cursor: 0 };
    data.subscriptions.set(userId, subscription);
    join(ws, userId);
    // False once the socket closed or this subscription was dropped (and maybe made anew).
    const current = () => !data.closed && subscription.state === 'starting';
    try {
      const { expiresAt } = await auth.authorizeRead(userId, token);
      if (!current()) return;
      // A socket may not read on with a token that has expired: what it subscribed with is checked again at its exp.
      if (expiresAt !== undefined) {
        tokenExpiries.set(subscription, atTime(expiresAt, () => reject(ws,
          new ProductError('TOKEN_EXPIRED', `the token you subscribed to user ${userId} with has expired; reconnect with a new one and resume with after`, { userId }))));
      }
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
        flow.begin(ws, subscription, after);
      });
    } catch (error) {
      if (current()) leave(ws, subscription);
      throw error;
    }
  }

  /** Answers an error with an error frame, and closes the socket (4401, 4403) when the error says so. */
  function reject(ws: Socket, error: unknown, userId?: number): void {
    if (ws.data.closed) return;
    const known = error instanceof ProductError ? error : productErrorFromDatabase(error);
    if (!known) log.error({ err: describe(error) }, 'websocket request failed');
    const failure = known ?? internalError();
    const closeCode = closeCodeOf(failure);
    ws.cork(() => {
      send(ws, frames.error(failure, userId));
      if (closeCode !== undefined) ws.end(closeCode, failure.code);
    });
  }

  /**
   * A client may name a seq this bridge's feed has not published yet (it saw
   * it through another bridge): wait for the feed rather than send it twice.
   */
  async function waitForFeedToReach(userId: number, after: number): Promise<void> {
    const since = Date.now();
    while (after > (feed.lastSeq(userId) ?? 0)) {
      if (after > (await lastSeqOf(sql, userId))) {
        throw new ProductError('INVALID_AFTER', `user ${userId} has no earning with seq ${after}; after must be a seq you received`, { userId });
      }
      if (Date.now() - since > feedLagMaxWaitMs) {
        throw new ProductError('LIVE_EVENTS_DELAYED', 'live events are delayed; try again shortly', { userId, retryAfterSeconds: 1 });
      }
      await new Promise((resolve) => setTimeout(resolve, feedLagWaitMs));
    }
  }

  return {
    /**
     * Handles one client message; errors become error frames (or a 4401/4403
     * close). A subscribe waits for the answer to an earlier subscribe to the
     * same user: one sent while the URL's subscription to that user is still
     * starting gets its ALREADY_SUBSCRIBED after the "subscribed" frame, not
     * before. An unsubscribe acts at once (it cancels a subscription still
     * starting); different users' subscribes run side by side.
     */
    handle(ws: Socket, message: ClientMessage): Promise<void> {
      if (message.type === 'unsubscribe') return this.answer(ws, message);
      const { answering } = ws.data;
      const previous = answering.get(message.userId) ?? Promise.resolve();
      const answer = previous.then(() => this.answer(ws, message));
      answering.set(message.userId, answer);
      return answer.finally(() => {
        if (answering.get(message.userId) === answer) answering.delete(message.userId);
      });
    },

    /** Answers one message, once every earlier message about its user is answered; never rejects. */
    async answer(ws: Socket, message: ClientMessage): Promise<void> {
      try {
        if (message.type === 'unsubscribe') {
          const subscription = ws.data.subscriptions.get(message.userId);
          if (!subscription) {
            throw new ProductError('NOT_SUBSCRIBED', `not subscribed to user ${message.userId}`, { userId: message.userId });
          }
          leave(ws, subscription);
          send(ws, frames.unsubscribed(message.userId));
          return;
        }
        await subscribe(ws, message.userId, message.after, message.token);
      } catch (error) {
        reject(ws, error, message.userId);
      }
    },

    reject,

    /** A live event from the feed: to every live subscriber of its user. */
    publish(event: EarningEventRecord): void {
      let receivers = 0;
      // (A socket over its high-water mark leaves this set as it is iterated: a Set allows that.)
      for (const ws of live.get(event.userId) ?? []) {
        ws.send(event.json);
        receivers += 1;
        flow.checkHighWater(ws);
      }
      if (receivers === 0) return;
      metrics.eventsDelivered.inc({ path: 'live' }, receivers);
      const createdAt = Date.parse(/"createdAt":"([^"]+)"/.exec(event.json)?.[1] ?? '');
      if (Number.isFinite(createdAt)) metrics.commitToSend.observe(Math.max(0, Date.now() - createdAt) / 1000);
    },

    /** Subscriptions reading from the database now (for /metrics). */
    catchingUp: () => flow.catchingUp(),

    onDrain(ws: Socket): void {
      flow.onDrain(ws);
    },

    onClose(ws: Socket): void {
      ws.data.closed = true;
      for (const subscription of [...ws.data.subscriptions.values()]) leave(ws, subscription);
      flow.onClose(ws);
    },

    stop(): void {
      flow.stop();
    },
  };
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;

/** The longest delay setTimeout takes (about 24.8 days); a longer one would fire at once. */
const maxTimerMs = 2_147_483_647;

/** Runs `fn` at `time` (ms since 1970), however far away; returns what cancels it. */
function atTime(time: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const wait = time - Date.now();
    timer = setTimeout(wait > maxTimerMs ? arm : fn, Math.min(Math.max(wait, 0), maxTimerMs));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
