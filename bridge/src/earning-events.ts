// Reading the events of users' seq streams (earnings, reversals, payouts)
// and seq counters: for the feed, the subscriptions and the events API.
// Every event is the JSON text the earning_events view builds
// (docs/events.md), passed on unchanged.

import type { Sql } from './db.js';

/** One event: its user, its seq and its JSON text exactly as the database built it. */
export interface EarningEventRecord {
  userId: number;
  seq: number;
  json: string;
}

/** A user's events after a seq, oldest first. */
export async function eventsAfter(sql: Sql, userId: number, after: number, limit: number): Promise<EarningEventRecord[]> {
  // Ordered by the view's seq (not the int cast below), so that PostgreSQL
  // reads both halves of the view in (user_id, seq) order and stops at limit.
  return sql<EarningEventRecord[]>`
    SELECT e.user_id AS "userId", e.seq::int AS seq, e.event::text AS json FROM earning_events e
    WHERE e.user_id = ${userId} AND e.seq > ${after}
    ORDER BY e.seq LIMIT ${limit}`;
}

/** For several users at once, each user's events after its own seq: by user, then seq; the first `limit`. */
export async function eventsAfterEach(sql: Sql, cursors: Array<{ userId: number; after: number }>, limit: number): Promise<EarningEventRecord[]> {
  return sql<EarningEventRecord[]>`
    SELECT e.user_id AS "userId", e.seq::int AS seq, e.event::text AS json
    FROM unnest(${cursors.map((cursor) => cursor.userId)}::int[], ${cursors.map((cursor) => cursor.after)}::bigint[]) AS cursor (user_id, after)
    JOIN earning_events e ON e.user_id = cursor.user_id AND e.seq > cursor.after
    ORDER BY e.user_id, e.seq
    LIMIT ${limit}`;
}

/**
 * The events whose earning ids fall in a range (what one NOTIFY announces),
 * in id order; only those of `users` when given.
 */
export async function eventsInIdRange(sql: Sql, first: number, last: number, users: number[] | 'all'): Promise<EarningEventRecord[]> {
  return users === 'all'
    ? sql<EarningEventRecord[]>`
        SELECT user_id AS "userId", seq::int AS seq, event::text AS json FROM earning_events
        WHERE earning_id BETWEEN ${first} AND ${last}
        ORDER BY earning_id`
    : sql<EarningEventRecord[]>`
        SELECT user_id AS "userId", seq::int AS seq, event::text AS json FROM earning_events
        WHERE earning_id BETWEEN ${first} AND ${last} AND user_id = ANY(${users}::int[])
        ORDER BY earning_id`;
}

/** The last seq committed for each of `users` (or every user), omitting users with no earning yet. */
export async function lastSeqs(sql: Sql, users: number[] | 'all'): Promise<Map<number, number>> {
  const rows = users === 'all'
    ? await sql<{ userId: number; lastSeq: string }[]>`
        SELECT user_id AS "userId", last_seq AS "lastSeq" FROM earning_sequences`
    : await sql<{ userId: number; lastSeq: string }[]>`
        SELECT user_id AS "userId", last_seq AS "lastSeq" FROM earning_sequences WHERE user_id = ANY(${users}::int[])`;
  return new Map(rows.map((row) => [row.userId, Number(row.lastSeq)]));
}

/** The last seq committed for a user (0 before their first earning). */
export async function lastSeqOf(sql: Sql, userId: number): Promise<number> {
  return (await lastSeqs(sql, [userId])).get(userId) ?? 0;
}
