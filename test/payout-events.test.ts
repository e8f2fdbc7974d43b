// Payout events on the user's seq stream: payout_created, payout_paid,
// payout_failed and payout_canceled take the user's next seq, so credits,
// reversals and payouts form one gap-free stream; the event view builds them
// (and earning_update and earning_reversed exactly as before); their NOTIFY
// names the users, and the bridge turns it into a catch-up that reaches
// subscribers live, once, in seq order.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { migrationsDir } from '../bridge/src/project-paths.js';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { createPayouts, refund, setSettings } from './support/payouts.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers, purchase } from './support/referrals.js';
import { waitFor } from './support/wait.js';
import { subscribedClient, type Frame, type TestClient } from './support/ws-client.js';

const db = useTestDatabase();
afterEach(async () => {
  await setSettings(db.sql);
});

/** A user's events as the view builds them, oldest first. */
async function eventsOf(userId: number): Promise<Array<Record<string, unknown>>> {
  return (await db.sql<{ event: Record<string, unknown> }[]>`SELECT event FROM earning_events WHERE user_id = ${userId} ORDER BY seq`).map((row) => row.event);
}

/** A buyer whose referrer has 50.00 available at once, then a payout of it, marked as `settle` says. */
async function settledPayout(settle: (payoutId: string) => Promise<unknown>) {
  await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
  const users = await createBuyerWithReferrer(db.sql);
  await purchase(db.sql, users.buyer, '1000');
  const [payout] = await createPayouts(db.sql, [users.referrer]);
  await settle(payout!.id);
  return { ...users, payoutId: Number(payout!.id) };
}

describe('the event view', () => {
  test('credits, reversals and payout events share one gap-free seq stream per user', async () => {
    const { referrer, buyer, payoutId } = await settledPayout((id) => db.sql`SELECT mark_payout_paid(${id}::bigint, 'TX-EVENTS')`);
    const refunded = await purchase(db.sql, buyer, '2000');
    await refund(db.sql, refunded, '100.00');
    const [second] = await createPayouts(db.sql, [referrer]);
    await db.sql`SELECT mark_payout_failed(${second!.id}::bigint, 'account closed')`;
    const [third] = await createPayouts(db.sql, [referrer]);
    await db.sql`SELECT cancel_payout(${third!.id}::bigint)`;

    const events = await eventsOf(referrer);
    expect(events.map((event) => [event.seq, event.type, event.amount])).toEqual([
      [1, 'earning_update', '50.00'],
      [2, 'payout_created', '50.00'],
      [3, 'payout_paid', '50.00'],
      [4, 'earning_update', '100.00'],
      [5, 'earning_reversed', '-5.00'],
      [6, 'payout_created', '95.00'],
      [7, 'payout_failed', '95.00'],
      [8, 'payout_created', '95.00'],
      [9, 'payout_canceled', '95.00'],
    ]);
    expect(events[2]).toEqual({
      type: 'payout_paid', userId: referrer, seq: 3, payoutId, amount: '50.00', currency: 'INR', status: 'paid', reference: 'TX-EVENTS',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(events[6]).toEqual({
      type: 'payout_failed', userId: referrer, seq: 7, payoutId: Number(second!.id), amount: '95.00', currency: 'INR', status: 'failed', reason: 'account closed',
      createdAt: expect.any(String),
    });
    expect(events[8]).toMatchObject({ type: 'payout_canceled', status: 'canceled', reason: null });
    expect(await db.sql`SELECT last_seq::int FROM earning_sequences WHERE user_id = ${referrer}`).toEqual([{ last_seq: 9 }]);
  });

  test('a payout event says what it said live: payout_created stays pending after the payout is paid', async () => {
    await setSettings(db.sql, { holdingPeriod: '0' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await purchase(db.sql, buyer, '1000');
    const [payout] = await createPayouts(db.sql, [referrer]);
    const [created] = await db.sql<{ text: string }[]>`SELECT event::text AS text FROM earning_events WHERE user_id = ${referrer} AND seq = 2`;
    await db.sql`SELECT mark_payout_paid(${payout!.id}::bigint, 'TX-LATER')`;
    expect(await db.sql`SELECT event::text AS text FROM earning_events WHERE user_id = ${referrer} AND seq = 2`).toEqual([created]);
    expect(JSON.parse(created!.text)).toMatchObject({ type: 'payout_created', status: 'pending' });
  });

  test('earning_update and earning_reversed are built byte for byte as 0011 built them', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchased = await purchase(db.sql, buyer, '1999.99');
    await refund(db.sql, purchased, '0.01');
    await refund(db.sql, purchased, null);
    // 0011's own definition, as a temporary view beside today's.
    const migration = readFileSync(path.join(migrationsDir, '0011_earning_reversed_events.sql'), 'utf8');
    const view = /CREATE OR REPLACE VIEW earning_events AS([\s\S]+?\) reversal);/.exec(migration)![1]!;
    const differences = await db.sql.begin(async (tx) => {
      await tx.unsafe(`CREATE TEMPORARY VIEW events_0011 AS ${view}`);
      return tx`
        SELECT earning_id, before.event::text AS before, after.event::text AS after
        FROM events_0011 before FULL JOIN (SELECT * FROM earning_events WHERE earning_id IS NOT NULL) after USING (earning_id)
        WHERE before.event::text IS DISTINCT FROM after.event::text`;
    });
    expect(differences).toEqual([]);
  });
});

describe('announcing payout events', () => {
  test('each payout statement sends one small NOTIFY naming its users; past 100 users it says "all"', async () => {
    await setSettings(db.sql, { holdingPeriod: '0', minimumPayout: '0.01' });
    const listener = db.connect({ max: 1 });
    const payloads: string[] = [];
    try {
      // Whoever earlier tests left with money is paid first, unannounced to this listener.
      await createPayouts(db.sql);
      await listener.listen('earnings', (payload) => payloads.push(payload));
      const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
      await purchase(db.sql, buyer, '100');
      const [payout] = await createPayouts(db.sql);
      await db.sql`SELECT mark_payout_paid(${payout!.id}::bigint, 'TX-NOTIFY')`;
      await waitFor('three notifications', () => payloads.length === 3);
      expect(payloads.slice(1).map((payload) => JSON.parse(payload))).toEqual([{ users: [referrer] }, { users: [referrer] }]);

      const many = await Promise.all(Array.from({ length: 101 }, () => createBuyerWithReferrer(db.sql)));
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT unnest(${many.map((chain) => chain.buyer)}::int[]), 1`;
      expect(await createPayouts(db.sql)).toHaveLength(101);
      await waitFor('five notifications', () => payloads.length === 5);
      expect(payloads.slice(3).map((payload) => JSON.parse(payload))).toEqual([{ firstEarningId: expect.any(Number), lastEarningId: expect.any(Number), count: 101 }, { users: 'all' }]);
      expect(payloads[4]!.length).toBeLessThan(100);
    } finally {
      await listener.end();
    }
  });

  test('a rolled-back payout run announces nothing and leaves no seq taken', async () => {
    await setSettings(db.sql, { holdingPeriod: '0' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await purchase(db.sql, buyer, '1000');
    await db.sql.begin(async (tx) => {
      await createPayouts(tx, [referrer]);
      throw new Error('roll back');
    }).catch(() => undefined);
    expect(await db.sql`SELECT last_seq::int FROM earning_sequences WHERE user_id = ${referrer}`).toEqual([{ last_seq: 1 }]);
    expect((await createPayouts(db.sql, [referrer])).map((payout) => payout.amount)).toEqual(['50.00']);
    expect((await eventsOf(referrer)).map((event) => event.seq)).toEqual([1, 2]);
  });
});

describe('payout events on the bridge', () => {
  const bridge = useTestBridge(db);

  const streamOf = (client: TestClient, userId: number) =>
    client.frames.filter((frame): frame is Frame & { seq: number } => typeof frame.seq === 'number' && frame.userId === userId);

  test('a subscriber receives payout events live, in seq order with the earnings, and resuming replays the same frames', async () => {
    await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const client = await subscribedClient(bridge.ws, referrer);
    try {
      await purchase(db.sql, buyer, '1999.99');
      const [payout] = await createPayouts(db.sql, [referrer]);
      await db.sql`SELECT mark_payout_paid(${payout!.id}::bigint, 'TX-LIVE')`;
      await purchase(db.sql, buyer, '1000');
      const [second] = await createPayouts(db.sql, [referrer]);
      await db.sql`SELECT mark_payout_failed(${second!.id}::bigint, 'bounced')`;
      await waitFor('six events', () => streamOf(client, referrer).length === 6);
      expect(streamOf(client, referrer).map((frame) => [frame.seq, frame.type, frame.amount])).toEqual([
        [1, 'earning_update', '99.9995'],
        [2, 'payout_created', '99.99'],
        [3, 'payout_paid', '99.99'],
        [4, 'earning_update', '50.00'],
        [5, 'payout_created', '50.00'],
        [6, 'payout_failed', '50.00'],
      ]);
      const resumed = await subscribedClient(bridge.ws, referrer, { after: 1 });
      try {
        await waitFor('five replayed events', () => streamOf(resumed, referrer).length === 5);
        expect(streamOf(resumed, referrer)).toEqual(streamOf(client, referrer).slice(1));
      } finally {
        await resumed.close();
      }
      const page = await callBridge(bridge.http, 'GET', `/api/earnings/${referrer}/events?after=1&limit=2`);
      expect(page.json.events.map((event: Frame) => event.type)).toEqual(['payout_created', 'payout_paid']);
    } finally {
      await client.close();
    }
  });

  test('a run paying more than 100 users ("users": "all") still reaches each subscriber', async () => {
    await setSettings(db.sql, { holdingPeriod: '0', minimumPayout: '0.01' });
    const chains = await Promise.all(Array.from({ length: 101 }, () => createBuyerWithReferrer(db.sql)));
    const watched = chains[57]!.referrer;
    const client = await subscribedClient(bridge.ws, watched);
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT unnest(${chains.map((chain) => chain.buyer)}::int[]), 1`;
      await waitFor('the earning', () => streamOf(client, watched).length === 1);
      await createPayouts(db.sql);
      await waitFor('the payout', () => streamOf(client, watched).length === 2);
      expect(streamOf(client, watched)[1]).toMatchObject({ type: 'payout_created', seq: 2, amount: '0.05' });
    } finally {
      await client.close();
    }
  });
});
