// The original project's README, run against our schema: its demo data works
// verbatim, and its scenario credits exact amounts. The demo users have fixed
// ids (1-5), so each test has a database of its own and inserts them itself.

import { beforeEach, describe, expect, test } from 'vitest';
import { useDatabasePerTest } from './support/database.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';
import { earningsOfPurchase, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useDatabasePerTest();

describe('the original demo data', () => {
  test('the original demo users insert verbatim, and default ids still work after them', async () => {
    await db.sql.unsafe(`
      INSERT INTO users (id, referred_by) VALUES
        (1, NULL),       -- Root user (no referrer)
        (2, 1),          -- Referred by user 1
        (3, 2),          -- Referred by user 2
        (4, 2),          -- Referred by user 2
        (5, 1);          -- Referred by user 1
    `);
    const insertedId = async (statement: Promise<Array<{ id: number }>>) => onlyRow(await statement).id;
    expect(await insertedId(db.sql`INSERT INTO users (name) VALUES ('x') RETURNING id`)).toBe(6);
    expect(await insertedId(db.sql`INSERT INTO users (id, name) VALUES (40, 'y') RETURNING id`)).toBe(40);
    expect(await insertedId(db.sql`INSERT INTO users (name) VALUES ('z') RETURNING id`)).toBe(41);
  });
});

describe('the original scenario, on the demo users', () => {
  beforeEach(async () => {
    await loadOriginalDemoUsers(db.sql);
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
      { userId: 2, sourceUserId: 4, level: 1, rate: '0.05', amount: '99.9995', seq: 1 },
      { userId: 1, sourceUserId: 4, level: 2, rate: '0.01', amount: '19.9999', seq: 1 },
    ]);
  });

  test('each earning becomes the documented earning_update event', async () => {
    const purchaseId = await purchase(db.sql, 3, '1000');
    const events = await db.sql<{ event: Record<string, unknown>; text: string }[]>`
      SELECT event, event::text AS text FROM earning_events
      WHERE earning_id IN (SELECT id FROM earnings WHERE purchase_id = ${purchaseId})
      ORDER BY earning_id`;
    const [level1, level2] = await db.sql<{ id: string }[]>`
      SELECT id FROM earnings WHERE purchase_id = ${purchaseId} ORDER BY level`;
    expect(events.map((row) => row.event)).toEqual([
      {
        type: 'earning_update', userId: 2, seq: 1, earningId: Number(level1?.id),
        purchaseId: Number(purchaseId), fromUserId: 3, level: 1, rate: '0.05', amount: '50.00',
        purchaseAmount: '1000.00', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
      {
        type: 'earning_update', userId: 1, seq: 1, earningId: Number(level2?.id),
        purchaseId: Number(purchaseId), fromUserId: 3, level: 2, rate: '0.01', amount: '10.00',
        purchaseAmount: '1000.00', createdAt: expect.any(String),
      },
    ]);
    // Keys in the documented order, compact, as subscribers receive it.
    expect(events.map((row) => row.text)).toEqual([
      expect.stringMatching(/^\{"type":"earning_update","userId":2,"seq":1,"earningId":\d+,"purchaseId":\d+,"fromUserId":3,"level":1,"rate":"0.05","amount":"50.00","purchaseAmount":"1000.00","createdAt":"[^"]+"\}$/),
      expect.any(String),
    ]);
  });
});
