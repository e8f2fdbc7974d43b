// The original project's README, run against our schema: its demo data works
// verbatim, and its scenario credits exact amounts.

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { earningsOfPurchase, purchase } from './support/referrals.js';

const db = useTestDatabase();

describe('the original demo data and scenario', () => {
  test('the original demo users insert verbatim, and default ids still work after them', async () => {
    await db.sql.unsafe(`
      INSERT INTO users (id, referred_by) VALUES
        (1, NULL),       -- Root user (no referrer)
        (2, 1),          -- Referred by user 1
        (3, 2),          -- Referred by user 2
        (4, 2),          -- Referred by user 2
        (5, 1);          -- Referred by user 1
    `);
    const [created] = await db.sql<{ id: number }[]>`INSERT INTO users (name) VALUES ('x') RETURNING id`;
    expect(created!.id).toBe(6);
    const [explicitAgain] = await db.sql<{ id: number }[]>`INSERT INTO users (id, name) VALUES (40, 'y') RETURNING id`;
    expect(explicitAgain!.id).toBe(40);
    const [afterIt] = await db.sql<{ id: number }[]>`INSERT INTO users (name) VALUES ('z') RETURNING id`;
    expect(afterIt!.id).toBe(41);
  });

  test('a purchase of 1000 by user 4 earns user 2 50.00 at level 1 and user 1 10.00 at level 2', async () => {
    const purchaseId = await purchase(db.sql, 4, '1000');
    expect(await earningsOfPurchase(db.sql, purchaseId)).toEqual([
      { userId: 2, sourceUserId: 4, level: 1, rate: '0.05', amount: '50.00', seq: 1 },
      { userId: 1, sourceUserId: 4, level: 2, rate: '0.01', amount: '10.00', seq: 1 },
    ]);
  });

  test('a purchase of 1999.99 earns exactly 99.9995 and 19.9999, with no float rounding', async () => {
    const purchaseId = await purchase(db.sql, 4, '1999.99');
    expect(await earningsOfPurchase(db.sql, purchaseId)).toEqual([
      { userId: 2, sourceUserId: 4, level: 1, rate: '0.05', amount: '99.9995', seq: 2 },
      { userId: 1, sourceUserId: 4, level: 2, rate: '0.01', amount: '19.9999', seq: 2 },
    ]);
  });

  test('each earning becomes the documented earning_update event', async () => {
    const [purchaseRow] = await db.sql<{ id: string }[]>`
      INSERT INTO purchases (user_id, amount) VALUES (3, 1000) RETURNING id`;
    const events = await db.sql<{ event: Record<string, unknown>; text: string }[]>`
      SELECT event, event::text AS text FROM earning_events
      WHERE earning_id IN (SELECT id FROM earnings WHERE purchase_id = ${purchaseRow!.id})
      ORDER BY earning_id`;
    const earningIds = await db.sql<{ id: string }[]>`
      SELECT id FROM earnings WHERE purchase_id = ${purchaseRow!.id} ORDER BY level`;
    expect(events.map((row) => row.event)).toEqual([
      {
        type: 'earning_update', userId: 2, seq: 3, earningId: Number(earningIds[0]!.id),
        purchaseId: Number(purchaseRow!.id), fromUserId: 3, level: 1, rate: '0.05', amount: '50.00',
        purchaseAmount: '1000.00', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
      {
        type: 'earning_update', userId: 1, seq: 3, earningId: Number(earningIds[1]!.id),
        purchaseId: Number(purchaseRow!.id), fromUserId: 3, level: 2, rate: '0.01', amount: '10.00',
        purchaseAmount: '1000.00', createdAt: expect.any(String),
      },
    ]);
    // Keys in the documented order, compact, as subscribers receive it.
    expect(events[0]!.text).toMatch(/^\{"type":"earning_update","userId":2,"seq":3,"earningId":\d+,"purchaseId":\d+,"fromUserId":3,"level":1,"rate":"0.05","amount":"50.00","purchaseAmount":"1000.00","createdAt":"[^"]+"\}$/);
  });
});
