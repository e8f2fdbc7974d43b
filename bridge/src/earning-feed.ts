// Follows the earnings ledger live: LISTEN on "earnings" for hints, load the
// events themselves from the database, and hand each to the consumer exactly
// once and in seq order per user. A NOTIFY can be missed (the listen
// connection can drop), so every (re)connection of the listener and a slow
// periodic reconcile catch up from the last seq delivered to each user.

import type { Sql } from './db.js';
import { describe } from './failure.js';
import type { Logger } from './log.js';

/** One earning_update event: its JSON text exactly as the database built it. */
export interface EarningEventRecord {
  userId: number;
  seq: number;
  json: string;
}

export interface EarningFeed {
  stop(): Promise<void>;
}

interface EarningIdRange {
  first: number;
  last: number;
}

const retryAfterErrorMs = 1000;

/**
 * Delivers every earning committed after the feed starts, for all users.
 * Resolves once the listener is connected and the starting point is known.
 */
export async function startEarningFeed(
  sql: Sql,
  log: Logger,
  onEvent: (event: EarningEventRecord) => void,
  options: { reconcileEveryMs?: number } = {},
): Promise<EarningFeed> {
  const lastSeqDelivered = new Map<number, number>();
  let startingPointKnown = false;
  let startingPointFound!: () => void;
  const startingPoint = new Promise<void>((resolve) => (startingPointFound = resolve));
  let catchUpPending = false;
  let pendingRange: EarningIdRange | undefined;
  let draining: Promise<void> | undefined;
  let stopped = false;

  function schedule(): void {
    if (draining || stopped) return;
    draining = drain().finally(() => {
      draining = undefined;
      if (catchUpPending || pendingRange) schedule();
    });
  }

  async function drain(): Promise<void> {
    try {
      while (!stopped && (catchUpPending || pendingRange)) {
        if (catchUpPending) {
          catchUpPending = false;
          await catchUp();
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
      setTimeout(() => requestCatchUp(), retryAfterErrorMs).unref();
    }
  }

  function requestCatchUp(): void {
    catchUpPending = true;
    schedule();
  }

  function onHint(payload: string): void {
    const range = parseHint(payload);
    if (!range) {
      log.warn({ payload }, 'ignoring an unreadable earnings notification; catching up instead');
      requestCatchUp();
      return;
    }
    // Hints that arrive while a load runs merge into one range.
    pendingRange = pendingRange
      ? { first: Math.min(pendingRange.first, range.first), last: Math.max(pendingRange.last, range.last) }
      : range;
    schedule();
  }

  async function catchUp(): Promise<void> {
    const counters = await sql<{ userId: number; lastSeq: string }[]>`
      SELECT user_id AS "userId", last_seq AS "lastSeq" FROM earning_sequences`;
    if (!startingPointKnown) {
      for (const { userId, lastSeq } of counters) lastSeqDelivered.set(userId, Number(lastSeq));
      startingPointKnown = true;
      startingPointFound();
      return;
    }
    const behind = counters
      .filter(({ userId, lastSeq }) => Number(lastSeq) > (lastSeqDelivered.get(userId) ?? 0))
      .map(({ userId }) => userId);
    if (behind.length > 0) await deliverAfterLastSeq(behind);
  }

  async function deliverRange(range: EarningIdRange): Promise<void> {
    const events = await sql<EarningEventRecord[]>`
      SELECT user_id AS "userId", seq::int AS seq, event::text AS json
      FROM earning_events
      WHERE earning_id BETWEEN ${range.first} AND ${range.last}
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
    const stillMissing = deliverInOrder(events);
    if (stillMissing.length > 0) {
      log.error({ userIds: stillMissing }, 'earnings ledger has a seq gap; this should be impossible');
    }
  }

  /** Delivers events (in seq order per user); returns users whose next seq is missing. */
  function deliverInOrder(events: EarningEventRecord[]): number[] {
    const usersWithGaps = new Set<number>();
    for (const event of events) {
      if (usersWithGaps.has(event.userId)) continue;
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

  const { unlisten } = await sql.listen('earnings', onHint, () => {
    log.info('listening for earnings');
    requestCatchUp();
  });
  await startingPoint;

  const reconcile = setInterval(requestCatchUp, options.reconcileEveryMs ?? 30_000);
  reconcile.unref();

  return {
    async stop() {
      stopped = true;
      clearInterval(reconcile);
      await unlisten().catch(() => undefined);
      await draining;
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
