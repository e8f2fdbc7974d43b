// Earnings are announced: one small NOTIFY per statement on "earnings", and
// the bridge's earning feed turns those hints into every event, exactly once
// and in seq order, even when its listen connection is killed mid-stream.

import postgres from 'postgres';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { startEarningFeed, type EarningEventRecord } from '../bridge/src/feed/earning-feed.js';
import { parseEarningsNotification } from '../bridge/src/feed/notification.js';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers, createUser } from './support/referrals.js';
import { killListeners, waitFor } from './support/wait.js';

const db = useTestDatabase();
const silent = pino({ level: 'silent' });

describe('pg_notify on the earnings channel', () => {
  test('a LISTEN connection is told of every earning: the events themselves when they fit in 8000 bytes, else their id range', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const { buyer: oneLevelBuyer } = await createBuyerWithReferrer(db.sql);
    const listener = db.connect({ max: 1 });
    const payloads: string[] = [];
    try {
      await listener.listen('earnings', (payload) => payloads.push(payload));
      const [{ before } = { before: '0' }] = await db.sql<{ before: string }[]>`
        SELECT coalesce(max(id), 0)::text AS before FROM earnings`;

      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${oneLevelBuyer}, 10), (${buyer}, 20)`;
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 1 FROM generate_series(1, 10000)`;
      const root = await createUser(db.sql);
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${root}, 10)`; // credits nobody

      const earnings = await db.sql<{ id: string }[]>`SELECT id::text FROM earnings WHERE id > ${before} ORDER BY id`;
      expect(earnings).toHaveLength(2 + 3 + 10_000 * 2);
      await waitFor('one notification per crediting statement', () => payloads.length === 3);
      for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8000);

      const notifications = payloads.map((payload) => parseEarningsNotification(payload));
      expect(notifications.map((notification) => notification?.kind)).toEqual(['events', 'events', 'range']);
      // Carried events are the view's, byte for byte, in earning id order.
      for (const notification of notifications.slice(0, 2)) {
        if (notification?.kind !== 'events') throw new Error('expected events');
        const fromTheView = await db.sql<EarningEventRecord[]>`
          SELECT user_id AS "userId", seq::int AS seq, event::text AS json FROM earning_events
          WHERE earning_id BETWEEN ${notification.range.first} AND ${notification.range.last} ORDER BY earning_id`;
        expect(notification.events).toEqual(fromTheView);
      }
      expect(notifications.map((notification) => notification?.kind === 'events' && notification.events.length)).toEqual([2, 3, false]);
      expect(JSON.parse(payloads[2]!)).toMatchObject({ count: 20_000 });
      const covered = earnings.filter(({ id }) => notifications.some((notification) =>
        notification?.kind !== 'users' && Number(id) >= notification!.range.first && Number(id) <= notification!.range.last));
      expect(covered).toHaveLength(earnings.length);
    } finally {
      await listener.end();
    }
  });

  test('a rolled-back purchase announces nothing', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const listener = db.connect({ max: 1 });
    const payloads: string[] = [];
    try {
      await listener.listen('earnings', (payload) => payloads.push(payload));
      await db.sql.begin(async (sql) => {
        await sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
        throw new Error('roll back');
      }).catch(() => undefined);
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 30)`;
      await waitFor('the committed purchase\'s notification', () => payloads.length >= 1);
      const notifications = payloads.map((payload) => parseEarningsNotification(payload));
      expect(notifications).toHaveLength(1);
      expect(notifications[0]?.kind === 'events' && notifications[0].events.map((event) => JSON.parse(event.json).amount)).toEqual(['1.50']);
    } finally {
      await listener.end();
    }
  });
});

describe('the earning feed', () => {
  test('delivers every earning exactly once and in seq order, even when its listener is killed mid-stream', async () => {
    // Three chains; the first also gets 500 purchases in one statement.
    const busy = await createBuyerWithTwoReferrers(db.sql);
    const chains = [busy, ...await Promise.all([2, 3].map(() => createBuyerWithTwoReferrers(db.sql)))];
    const feedSql = db.connect({ max: 2 });
    const delivered: EarningEventRecord[] = [];
    const feed = await startEarningFeed(feedSql, silent, (event) => delivered.push(event), {
      scope: 'all', reconcileEveryMs: 60_000, connectListener: () => db.connect({ max: 1 }),
    });
    try {
      const writer = db.connect({ max: 3 });
      let killed = 0;
      try {
        for (let round = 0; round < 60; round++) {
          await Promise.all(chains.map(({ buyer }) =>
            writer`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, ${round + 1})`));
          if (round % 20 === 10) {
            killed += await killListeners(db.sql);
          }
        }
        await writer`INSERT INTO purchases (user_id, amount) SELECT ${busy.buyer}::int, 5 FROM generate_series(1, 500)`;
      } finally {
        await writer.end();
      }
      expect(killed).toBe(3);

      const expectedTotal = 3 * 60 * 2 + 500 * 2;
      await waitFor(`${expectedTotal} events`, () => delivered.length >= expectedTotal, 30_000);
      expect(delivered).toHaveLength(expectedTotal);
      const seqsByUser = new Map<number, number[]>();
      for (const event of delivered) {
        seqsByUser.set(event.userId, [...(seqsByUser.get(event.userId) ?? []), event.seq]);
        expect(JSON.parse(event.json)).toMatchObject({ type: 'earning_update', userId: event.userId, seq: event.seq });
      }
      for (const [, seqs] of seqsByUser) {
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      }
    } finally {
      await feed.stop();
      await feedSql.end();
    }
  });

  test('starts after what is already in the ledger and delivers only what comes next', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
    const feedSql = db.connect({ max: 2 });
    const delivered: EarningEventRecord[] = [];
    const feed = await startEarningFeed(feedSql, silent, (event) => delivered.push(event), {
      scope: 'all', connectListener: () => db.connect({ max: 1 }),
    });
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 20)`;
      await waitFor('two new events', () => delivered.length >= 2);
      expect(delivered.map((event) => JSON.parse(event.json).amount).sort()).toEqual(['0.20', '1.00']);
      expect(delivered.map((event) => event.seq)).toEqual([2, 2]);
    } finally {
      await feed.stop();
      await feedSql.end();
    }
  });

  test('delivers the events a notification carries without reading them back, and a large statement\'s from the table', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    // The feed's own queries, as postgres.js sends them.
    const queries: string[] = [];
    const feedSql = postgres(db.url, { max: 2, onnotice: () => undefined, debug: (_connection, query) => queries.push(query) });
    const delivered: EarningEventRecord[] = [];
    const feed = await startEarningFeed(feedSql, silent, (event) => delivered.push(event), {
      scope: 'all', reconcileEveryMs: 60_000, connectListener: () => db.connect({ max: 1 }),
    });
    try {
      queries.length = 0;
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 20)`;
      await waitFor('the two carried events', () => delivered.length >= 2);
      expect(queries.filter((query) => query.includes('earning_events'))).toEqual([]);

      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 1 FROM generate_series(1, 100)`;
      await waitFor('the 200 events of the large statement', () => delivered.length >= 202);
      expect(queries.filter((query) => query.includes('earning_events')).length).toBeGreaterThan(0);
      expect(delivered).toHaveLength(202);
      expect(delivered.filter((event) => event.userId === buyer)).toEqual([]);
    } finally {
      await feed.stop();
      await feedSql.end();
    }
  });

  test('a statement of more events than one read holds (25,000) is delivered in pages, exactly once and in order, live or caught up', async () => {
    const { buyer, referrer, root } = await createBuyerWithTwoReferrers(db.sql);
    const reads: string[] = [];
    const feedSql = postgres(db.url, { max: 2, onnotice: () => undefined, debug: (_connection, query) => reads.push(query) });
    const delivered: EarningEventRecord[] = [];
    const feed = await startEarningFeed(feedSql, silent, (event) => delivered.push(event), {
      scope: 'all', reconcileEveryMs: 60_000, connectListener: () => db.connect({ max: 1 }),
    });
    try {
      // Live: one notification for 60,000 earnings, read in three pages.
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 1 FROM generate_series(1, 30000)`;
      await waitFor('60,000 events', () => delivered.length >= 60_000, 60_000);
      expect(reads.filter((query) => query.includes('earning_id BETWEEN')).length).toBeGreaterThanOrEqual(3);
      // Caught up: the notification of the next 60,000 is missed while the listener is down.
      await killListeners(db.sql);
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 2 FROM generate_series(1, 30000)`;
      await waitFor('120,000 events', () => delivered.length >= 120_000, 60_000);
      expect(delivered).toHaveLength(120_000);
      for (const userId of [referrer, root]) {
        expect(delivered.filter((event) => event.userId === userId).map((event) => event.seq))
          .toEqual(Array.from({ length: 60_000 }, (_, index) => index + 1));
      }
    } finally {
      await feed.stop();
      await feedSql.end();
    }
  }, 150_000);
});
