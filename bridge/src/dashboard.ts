// The dashboard's reads: a user's downline and earnings per day, and the
// operator's program totals and top referrers. Plain read queries over the
// ledger; every amount is summed and formatted by PostgreSQL (decimal_text),
// so the page shows numbers it never computed.

import type { Sql } from './db.js';
import { unknownUser } from './errors.js';

/**
 * GET /api/users/:userId/referrals: the people the user referred (level 1),
 * theirs (level 2), and so on down as many levels as the program credits
 * (referral_rates), each with what they have generated for the user: the
 * user's earnings from their purchases, net of reversals. Nearest levels
 * first, then by id; at most `limit` people.
 */
export async function referralsOf(sql: Sql, userId: number, limit: number): Promise<unknown> {
  const [row] = await sql<{ answer: unknown }[]>`
    WITH RECURSIVE downline AS (
      SELECT u.id, u.name, u.referred_by, u.created_at, 1 AS level FROM users u WHERE u.referred_by = ${userId}
      UNION ALL
      SELECT u.id, u.name, u.referred_by, u.created_at, d.level + 1
      FROM users u JOIN downline d ON u.referred_by = d.id
      WHERE d.level < (SELECT max(level) FROM referral_rates)
    ), generated AS (
      SELECT e.source_user_id, sum(e.amount) AS amount,
             count(*) FILTER (WHERE e.amount > 0) AS credits, count(*) FILTER (WHERE e.amount < 0) AS reversals
      FROM earnings e WHERE e.user_id = ${userId} GROUP BY e.source_user_id
    ), page AS (
      SELECT d.*, coalesce(g.amount, 0) AS generated, coalesce(g.credits, 0) AS credits, coalesce(g.reversals, 0) AS reversals
      FROM downline d LEFT JOIN generated g ON g.source_user_id = d.id
      ORDER BY d.level, d.id LIMIT ${limit}
    )
    SELECT json_build_object(
      'userId', u.id,
      'currency', (SELECT currency FROM program_settings),
      'referrals', coalesce((
        SELECT json_agg(json_build_object(
          'userId', p.id, 'name', p.name, 'level', p.level, 'referredBy', p.referred_by, 'joinedAt', iso_utc(p.created_at),
          'generated', decimal_text(p.generated), 'credits', p.credits, 'reversals', p.reversals) ORDER BY p.level, p.id)
        FROM page p), '[]')
    ) AS answer
    FROM users u WHERE u.id = ${userId}`;
  if (!row) throw unknownUser(userId);
  return row.answer;
}

/**
 * GET /api/users/:userId/earnings/daily: the user's earnings per UTC day for
 * the last `days` days, today included, oldest first, one entry per day
 * (zeros included): credits, reversals (negative, as in the ledger) and
 * their sum, net.
 */
export async function dailyEarnings(sql: Sql, userId: number, days: number): Promise<unknown> {
  const [row] = await sql<{ answer: unknown }[]>`
    WITH span AS (
      SELECT (ledger_now() AT TIME ZONE 'UTC')::date - ${days - 1}::int AS first_day, (ledger_now() AT TIME ZONE 'UTC')::date AS last_day
    ), by_day AS (
      SELECT (e.created_at AT TIME ZONE 'UTC')::date AS day,
             coalesce(sum(e.amount) FILTER (WHERE e.amount > 0), 0) AS credits,
             coalesce(sum(e.amount) FILTER (WHERE e.amount < 0), 0) AS reversals,
             count(*) AS events
      FROM earnings e, span
      WHERE e.user_id = ${userId} AND e.created_at >= span.first_day::timestamp AT TIME ZONE 'UTC'
      GROUP BY 1
    )
    SELECT json_build_object(
      'userId', u.id,
      'currency', (SELECT currency FROM program_settings),
      'days', ${days}::int,
      'from', (SELECT first_day::text FROM span),
      'to', (SELECT last_day::text FROM span),
      'daily', (
        SELECT json_agg(json_build_object(
          'date', d.day::date::text,
          'credits', decimal_text(coalesce(b.credits, 0)),
          'reversals', decimal_text(coalesce(b.reversals, 0)),
          'net', decimal_text(coalesce(b.credits, 0) + coalesce(b.reversals, 0)),
          'events', coalesce(b.events, 0)) ORDER BY d.day)
        -- Dates as timestamps without a time zone: as timestamptz they would be
        -- local midnights, and a midnight skipped by a clock change would
        -- shift the series an hour and drop today.
        FROM span, generate_series(span.first_day::timestamp, span.last_day::timestamp, interval '1 day') d(day)
        LEFT JOIN by_day b ON b.day = d.day::date)
    ) AS answer
    FROM users u WHERE u.id = ${userId}`;
  if (!row) throw unknownUser(userId);
  return row.answer;
}

/**
 * GET /api/program/totals: the whole program's money since it began, and
 * how much of it the last hour added: purchases, credits (earnings),
 * reversals, payouts paid, and what is owed (earned, net of reversals, and
 * not yet paid). The last hour's owed is its change, which may be negative.
 */
export async function programTotals(sql: Sql): Promise<unknown> {
  const [row] = await sql<{ answer: unknown }[]>`
    WITH hour AS (SELECT ledger_now() - interval '1 hour' AS since),
    p AS (
      SELECT count(*) AS n, coalesce(sum(amount), 0) AS total,
             count(*) FILTER (WHERE created_at >= hour.since) AS hour_n,
             coalesce(sum(amount) FILTER (WHERE created_at >= hour.since), 0) AS hour_total
      FROM purchases, hour
    ), e AS (
      SELECT count(*) FILTER (WHERE amount > 0) AS credits_n, coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS credits,
             count(*) FILTER (WHERE amount < 0) AS reversals_n, coalesce(sum(amount) FILTER (WHERE amount < 0), 0) AS reversals,
             count(*) FILTER (WHERE amount > 0 AND created_at >= hour.since) AS hour_credits_n,
             coalesce(sum(amount) FILTER (WHERE amount > 0 AND created_at >= hour.since), 0) AS hour_credits,
             count(*) FILTER (WHERE amount < 0 AND created_at >= hour.since) AS hour_reversals_n,
             coalesce(sum(amount) FILTER (WHERE amount < 0 AND created_at >= hour.since), 0) AS hour_reversals
      FROM earnings, hour
    ), paid AS (
      SELECT count(*) AS n, coalesce(sum(amount), 0) AS total,
             count(*) FILTER (WHERE paid_at >= hour.since) AS hour_n,
             coalesce(sum(amount) FILTER (WHERE paid_at >= hour.since), 0) AS hour_total
      FROM payouts, hour WHERE status = 'paid'
    )
    SELECT json_build_object(
      'currency', (SELECT currency FROM program_settings),
      'asOf', iso_utc(ledger_now()),
      'purchases', json_build_object('total', decimal_text(p.total), 'count', p.n, 'lastHour', decimal_text(p.hour_total), 'lastHourCount', p.hour_n),
      'earnings', json_build_object('total', decimal_text(e.credits), 'count', e.credits_n, 'lastHour', decimal_text(e.hour_credits), 'lastHourCount', e.hour_credits_n),
      'reversals', json_build_object('total', decimal_text(e.reversals), 'count', e.reversals_n, 'lastHour', decimal_text(e.hour_reversals), 'lastHourCount', e.hour_reversals_n),
      'paid', json_build_object('total', decimal_text(paid.total), 'count', paid.n, 'lastHour', decimal_text(paid.hour_total), 'lastHourCount', paid.hour_n),
      'owed', json_build_object(
        'total', decimal_text(e.credits + e.reversals - paid.total),
        'lastHour', decimal_text(e.hour_credits + e.hour_reversals - paid.hour_total))
    ) AS answer
    FROM p, e, paid`;
  return row!.answer;
}

/**
 * GET /api/program/top-referrers: the users who earned most this calendar
 * month (UTC), net of reversals, most first (ties by id); at most `limit`.
 */
export async function topReferrersThisMonth(sql: Sql, limit: number): Promise<unknown> {
  const [row] = await sql<{ answer: unknown }[]>`
    WITH month AS (SELECT date_trunc('month', ledger_now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS since),
    earned AS (
      SELECT e.user_id, sum(e.amount) AS amount,
             count(*) FILTER (WHERE e.amount > 0) AS credits, count(*) FILTER (WHERE e.amount < 0) AS reversals
      FROM earnings e, month WHERE e.created_at >= month.since
      GROUP BY e.user_id
      ORDER BY sum(e.amount) DESC, e.user_id LIMIT ${limit}
    )
    SELECT json_build_object(
      'currency', (SELECT currency FROM program_settings),
      'from', iso_utc((SELECT since FROM month)),
      'asOf', iso_utc(ledger_now()),
      'referrers', coalesce((
        SELECT json_agg(json_build_object(
          'userId', x.user_id, 'name', u.name, 'earned', decimal_text(x.amount), 'credits', x.credits, 'reversals', x.reversals)
          ORDER BY x.amount DESC, x.user_id)
        FROM earned x JOIN users u ON u.id = x.user_id), '[]')
    ) AS answer`;
  return row!.answer;
}
