// Follows the earnings ledger live: LISTEN on "earnings" for hints, load the
// events themselves from the database, and hand each to the consumer exactly
// once and in seq order per user. A NOTIFY can be missed, so every
// (re)connection of the listener and a slow periodic reconcile catch up from
// the last seq delivered to each user; a periodic ping through the listener
// notices a listen connection that died without telling, and re-listens.

import { randomBytes } from 'node:crypto';
import type { Sql } from './db.js';
import { describe } from './failure.js';
import { settleWithin } from './settle.js';
import type { Logger } from './log.js';

/** One earning_update event: its JSON text exactly as the database built it. */
export interface EarningEventRecord {
  userId: number;
  seq: number;
  json: string;
}

export interface EarningFeed {
  /**
   * Follows a user (scope "watched"); resolves with the last seq the feed has
   * delivered for them. Everything after it will be delivered.
   */
  watch(userId: number): Promise<number>;
  unwatch(userId: number): void;
  /** The last seq delivered for a followed user. */
  lastSeq(userId: number): number | undefined;
  readonly listening: boolean;
  stop(): Promise<void>;
}

export interface EarningFeedOptions {
  /**
   * Opens the dedicated connection the feed LISTENs on. When the listener
   * stops hearing its own pings, the feed drops that connection and opens a
   * new one, rather than trusting a reconnection that may have half failed.
   */
  connectListener: () => Sql;
  /** "all": every user's earnings (the log of `npm start`); "watched": only users passed to watch(). */
  scope: 'all' | 'watched';
  reconcileEveryMs?: number;
  pingEveryMs?: number;
  onListenerReconnect?: () => void;
  /** Called for each seq gap found in the ledger itself (impossible through SQL; see deliverAfterLastSeq). */
  onSeqGap?: () => void;
}

interface EarningIdRange {
  first: number;
  last: number;
}

const retryAfterErrorMs = 1000;
const pingTimeoutMs = 3000;

/** Resolves once the listener is connected and the starting point is known. */
export async function startEarningFeed(
  sql: Sql,
  log: Logger,
  onEvent: (event: EarningEventRecord) => void,
  options: EarningFeedOptions,
): Promise<EarningFeed> {
  const followsAll = options.scope === 'all';
  /** Followed users and the last seq delivered to each. */
  const lastSeqDelivered = new Map<number, number>();
  /** Users being followed whose starting point is still being read. */
  const starting = new Map<number, Promise<number>>();
  let catchUpAll = false;
  const catchUpUsers = new Set<number>();
  let pendingRange: EarningIdRange | undefined;
  let draining: Promise<void> | undefined;
  let stopped = false;
  /** Nothing is delivered before the starting point is known. */
  let ready = false;
  let listening = false;
  let everListened = false;

  function schedule(): void {
    if (draining || stopped || !ready) return;
    draining = drain().finally(() => {
      draining = undefined;
      if (!stopped && (catchUpAll || catchUpUsers.size || pendingRange)) schedule();
    });
  }

  async function drain(): Promise<void> {
    try {
      while (!stopped && (catchUpAll || catchUpUsers.size || pendingRange)) {
        if (catchUpAll || catchUpUsers.size) {
          const users = catchUpAll ? 'all' : [...catchUpUsers];
          catchUpAll = false;
          catchUpUsers.clear();
          await catchUp(users);
        } else if (pendingRange) {
          const range = pendingRange;
          pendingRange = undefined;
          await deliverRange(range);
        }
      }
    } catch (error) {
      if (stopped) return;
      // Whatever was lost is recovered by a catch-up, which needs the database.
      log.warn({ err: describe(error) }, 'earning feed could not load events; catching up shortly');
      pendingRange = undefined;
      setTimeout(() => requestCatchUp('all'), retryAfterErrorMs).unref();
    }
  }

  function requestCatchUp(users: 'all' | number[]): void {
    if (users === 'all') catchUpAll = true;
    else for (const userId of users) catchUpUsers.add(userId);
    schedule();
  }

  function onHint(payload: string): void {
    const range = parseHint(payload);
    if (!range) {
      log.warn({ payload }, 'ignoring an unreadable earnings notification; catching up instead');
      requestCatchUp('all');
      return;
    }
    // Hints that arrive while a load runs merge into one range.
    pendingRange = pendingRange
      ? { first: Math.min(pendingRange.first, range.first), last: Math.max(pendingRange.last, range.last) }
      : range;
    schedule();
  }

  const followed = () => [...lastSeqDelivered.keys()];

  async function catchUp(users: 'all' | number[]): Promise<void> {
    if (!followsAll && users === 'all') users = followed();
    if (Array.isArray(users) && users.length === 0) return;
    const counters = users === 'all'
      ? await sql<{ userId: number; lastSeq: string }[]>`
          SELECT user_id AS "userId", last_seq AS "lastSeq" FROM earning_sequences`
      : await sql<{ userId: number; lastSeq: string }[]>`
          SELECT user_id AS "userId", last_seq AS "lastSeq" FROM earning_sequences WHERE user_id = ANY(${users}::int[])`;
    const behind = counters
      .filter(({ userId, lastSeq }) => isFollowed(userId) && Number(lastSeq) > (lastSeqDelivered.get(userId) ?? 0))
      .map(({ userId }) => userId);
    if (behind.length > 0) await deliverAfterLastSeq(behind);
  }

  function isFollowed(userId: number): boolean {
    return followsAll || lastSeqDelivered.has(userId);
  }

  async function deliverRange(range: EarningIdRange): Promise<void> {
    const events = followsAll
      ? await sql<EarningEventRecord[]>`
          SELECT user_id AS "userId", seq::int AS seq, event::text AS json
          FROM earning_events
          WHERE earning_id BETWEEN ${range.first} AND ${range.last}
          ORDER BY earning_id`
      : await sql<EarningEventRecord[]>`
          SELECT user_id AS "userId", seq::int AS seq, event::text AS json
          FROM earning_events
          WHERE earning_id BETWEEN ${range.first} AND ${range.last} AND user_id = ANY(${followed()}::int[])
          ORDER BY earning_id`;
    const usersWithGaps = deliverInOrder(events);
    // A gap means a hint was missed: load everything after the last delivered.
    if (usersWithGaps.length > 0) await deliverAfterLastSeq(usersWithGaps);
  }

  async function deliverAfterLastSeq(userIds: number[]): Promise<void> {
    const after = userIds.map((userId) => lastSeqDelivered.get(userId) ?? 0);
    const events = await sql<EarningEventRecord[]>`
      SELECT e.user_id AS "userId", e.seq::int AS seq, e.event::text AS json
      FROM unnest(${userIds}::int[], ${after}::bigint[]) AS cursor (user_id, after)
      JOIN earning_events e ON e.user_id = cursor.user_id AND e.seq > cursor.after
      ORDER BY e.user_id, e.seq`;
    // The table itself has a gap: say so, and go on from the next seq there
    // is, rather than wait forever for seqs that will never come.
    for (let gapped = deliverInOrder(events); gapped.length > 0; gapped = deliverInOrder(events)) {
      for (const userId of gapped) skipGap(userId, events);
    }
  }

  function skipGap(userId: number, events: EarningEventRecord[]): void {
    const lastSeq = lastSeqDelivered.get(userId) ?? 0;
    const next = events.find((event) => event.userId === userId && event.seq > lastSeq)!;
    log.error({ userId, missingSeqs: { from: lastSeq + 1, to: next.seq - 1 } },
      'earnings ledger has a seq gap; this should be impossible; delivering from the next seq');
    options.onSeqGap?.();
    lastSeqDelivered.set(userId, next.seq - 1);
  }

  /** Delivers events (in seq order per user); returns users whose next seq is missing. */
  function deliverInOrder(events: EarningEventRecord[]): number[] {
    const usersWithGaps = new Set<number>();
    for (const event of events) {
      if (usersWithGaps.has(event.userId) || !isFollowed(event.userId)) continue;
      const lastSeq = lastSeqDelivered.get(event.userId) ?? 0;
      if (event.seq <= lastSeq) continue; // delivered already
      if (event.seq > lastSeq + 1) {
        usersWithGaps.add(event.userId);
        continue;
      }
      lastSeqDelivered.set(event.userId, event.seq);
      try {
        onEvent(event);
      } catch (error) {
        log.error({ err: describe(error), userId: event.userId, seq: event.seq }, 'earning event consumer failed');
      }
    }
    return [...usersWithGaps];
  }

  // In scope "all", the starting point is every user's current last seq.
  async function startFollowingAll(): Promise<void> {
    const counters = await sql<{ userId: number; lastSeq: string }[]>`
      SELECT user_id AS "userId", last_seq AS "lastSeq" FROM earning_sequences`;
    for (const { userId, lastSeq } of counters) {
      if (!lastSeqDelivered.has(userId)) lastSeqDelivered.set(userId, Number(lastSeq));
    }
  }

  function watch(userId: number): Promise<number> {
    const known = lastSeqDelivered.get(userId);
    if (known !== undefined || followsAll) return Promise.resolve(known ?? 0);
    const pending = starting.get(userId);
    if (pending) return pending;
    let start: Promise<number> | undefined;
    start = (async () => {
      const [counter] = await sql<{ lastSeq: string }[]>`
        SELECT last_seq AS "lastSeq" FROM earning_sequences WHERE user_id = ${userId}`;
      const lastSeq = Number(counter?.lastSeq ?? 0);
      if (starting.get(userId) === start) {
        starting.delete(userId);
        lastSeqDelivered.set(userId, lastSeq);
        // Hints that came while the starting point was read were skipped.
        requestCatchUp([userId]);
      }
      return lastSeq;
    })();
    starting.set(userId, start);
    return start;
  }

  // Listening: the earnings channel, plus a private channel for pings.
  const pingChannel = `earnings_ping_${randomBytes(6).toString('hex')}`;
  let awaitedPing: { nonce: string; received: () => void } | undefined;
  let listener = options.connectListener();

  async function listen(): Promise<void> {
    await listener.listen('earnings', onHint, () => {
      listening = true;
      if (everListened) {
        options.onListenerReconnect?.();
        log.info('listening for earnings again; catching up');
      } else {
        log.info('listening for earnings');
      }
      everListened = true;
      requestCatchUp('all');
    });
    await listener.listen(pingChannel, (nonce) => {
      if (awaitedPing?.nonce === nonce) awaitedPing.received();
    });
  }

  /** Closes the listen connection (bounded: the database may be gone). */
  async function unlisten(): Promise<void> {
    await settleWithin(listener.end({ timeout: 1 }), 2000);
  }

  let pinging = false;
  async function ping(): Promise<void> {
    if (pinging || stopped) return;
    pinging = true;
    try {
      const nonce = randomBytes(6).toString('hex');
      const heard = new Promise<boolean>((resolve) => {
        awaitedPing = { nonce, received: () => resolve(true) };
        setTimeout(() => resolve(false), pingTimeoutMs).unref();
      });
      // While the database refuses connections a query can wait for one far
      // longer than a ping may take: that counts as not heard.
      const sent = sql`SELECT pg_notify(${pingChannel}, ${nonce})`.then(() => heard, () => false);
      if (await Promise.race([sent, heard])) return;
      if (stopped) return;
      listening = false;
      log.warn('the earnings listener did not hear its own ping; listening again on a new connection');
      await unlisten();
      listener = options.connectListener();
      await listen();
    } catch (error) {
      if (!stopped) {
        listening = false;
        log.warn({ err: describe(error) }, 'cannot listen for earnings; trying again at the next ping');
      }
    } finally {
      pinging = false;
    }
  }

  await listen();
  if (followsAll) await startFollowingAll();
  ready = true;
  schedule();

  const reconcile = setInterval(() => requestCatchUp('all'), options.reconcileEveryMs ?? 30_000);
  const pings = setInterval(() => void ping(), options.pingEveryMs ?? 5_000);
  reconcile.unref();
  pings.unref();

  return {
    watch,
    unwatch(userId) {
      if (followsAll) return;
      lastSeqDelivered.delete(userId);
      starting.delete(userId);
    },
    lastSeq: (userId) => lastSeqDelivered.get(userId) ?? (followsAll ? 0 : undefined),
    get listening() {
      return listening;
    },
    async stop() {
      stopped = true;
      clearInterval(reconcile);
      clearInterval(pings);
      await unlisten();
      await settleWithin(draining ?? Promise.resolve(), 2000);
    },
  };
}

function parseHint(payload: string): EarningIdRange | undefined {
  try {
    const { firstEarningId, lastEarningId } = JSON.parse(payload) as Record<string, unknown>;
    if (Number.isSafeInteger(firstEarningId) && Number.isSafeInteger(lastEarningId)) {
      return { first: firstEarningId as number, last: lastEarningId as number };
    }
  } catch {
    // fall through
  }
  return undefined;
}
