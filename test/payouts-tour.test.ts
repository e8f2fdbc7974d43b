// The README's payout tour on the demo data (db/demo-data.sql, holding period
// 0): user 4 buys for 1999.99; create_payouts() pays user 2 exactly 99.99 and
// leaves 0.0095 available; the operator marks it paid; a full refund makes
// user 2's available exactly -99.99 (0.0095 - 99.9995), and no payout comes
// until new earnings cover it. The balance endpoint and a subscriber of
// user 2 show each step.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { demoDataFile } from '../bridge/src/project-paths.js';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { waitFor } from './support/wait.js';
import { subscribedClient, type Frame } from './support/ws-client.js';

// A database of this file's own: the demo tree has fixed ids 1-5.
const db = useTestDatabase();
beforeAll(async () => {
  await db.sql.unsafe(readFileSync(demoDataFile, 'utf8'));
});
const bridge = useTestBridge(db);

const balanceOf = async (userId: number) => (await callBridge(bridge.http, 'GET', `/api/users/${userId}/balance`)).json;
const createPayouts = () => db.sql<Array<{ id: string; user_id: number; amount: string }>>`SELECT id::text, user_id, amount::text FROM create_payouts()`;

describe('the payout tour', () => {
  test('1999.99 by user 4 pays user 2 exactly 99.99; a full refund afterwards leaves -99.99 available until new earnings cover it', async () => {
    expect((await callBridge(bridge.http, 'GET', '/api/settings')).json).toMatchObject({ holdingPeriod: 'PT0S', minimumPayout: '50.00', currency: 'INR' });
    const user2 = await subscribedClient(bridge.ws, 2);
    const stream = () => user2.frames.filter((frame): frame is Frame & { seq: number } => typeof frame.seq === 'number');
    const step = async (events: number) => {
      await waitFor(`${events} events for user 2`, () => stream().length === events);
      return stream().at(-1)!;
    };
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (4, 1999.99)`;
      expect(await step(1)).toMatchObject({ type: 'earning_update', seq: 1, amount: '99.9995' });
      expect(await balanceOf(2)).toMatchObject({ userId: 2, currency: 'INR', pending: '0.00', available: '99.9995', inPayout: '0.00', paid: '0.00', total: '99.9995' });

      const [payout, ...others] = await createPayouts();
      expect({ payout, others }).toEqual({ payout: { id: expect.any(String), user_id: 2, amount: '99.99' }, others: [] });
      expect(await step(2)).toMatchObject({ type: 'payout_created', seq: 2, payoutId: Number(payout!.id), amount: '99.99', currency: 'INR', status: 'pending' });
      expect(await balanceOf(2)).toMatchObject({ pending: '0.00', available: '0.0095', inPayout: '99.99', paid: '0.00', total: '99.9995' });
      expect(await balanceOf(1)).toMatchObject({ available: '19.9999', inPayout: '0.00' });

      const paid = await callBridge(bridge.http, 'POST', `/api/payouts/${payout!.id}/paid`, { reference: 'UTR-2026-0042' });
      expect(paid.json).toMatchObject({ status: 'paid', reference: 'UTR-2026-0042' });
      expect(await step(3)).toMatchObject({ type: 'payout_paid', seq: 3, reference: 'UTR-2026-0042' });
      expect(await balanceOf(2)).toMatchObject({ available: '0.0095', inPayout: '0.00', paid: '99.99', total: '99.9995' });

      await db.sql`INSERT INTO refunds (purchase_id) SELECT max(id) FROM purchases`;
      expect(await step(4)).toMatchObject({ type: 'earning_reversed', seq: 4, amount: '-99.9995' });
      expect(await balanceOf(2)).toMatchObject({ pending: '0.00', available: '-99.99', inPayout: '0.00', paid: '99.99', total: '0.00' });
      expect(await createPayouts()).toEqual([]);

      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (4, 3000)`;
      expect(await step(5)).toMatchObject({ type: 'earning_update', seq: 5, amount: '150.00' });
      expect(await balanceOf(2)).toMatchObject({ available: '50.01', total: '150.00' });
      expect((await createPayouts()).map((next) => [next.user_id, next.amount])).toEqual([[2, '50.01']]);
      expect(await step(6)).toMatchObject({ type: 'payout_created', seq: 6, amount: '50.01' });
      expect(await balanceOf(2)).toMatchObject({ pending: '0.00', available: '0.00', inPayout: '50.01', paid: '99.99', total: '150.00' });
    } finally {
      await user2.close();
    }
  });
});
