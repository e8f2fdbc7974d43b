// The README's refund tour on the original demo tree: user 4 buys for 1000
// and is refunded in full with plain SQL, so users 2 and 1 are back at 0.00
// and a subscriber of user 2 saw +50.00, then -50.00; a partial refund over
// HTTP takes back 12.50 and 2.50.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';
import { callBridge } from './support/http.js';
import { waitFor } from './support/wait.js';
import { subscribedClient } from './support/ws-client.js';

// A database of this file's own: the demo tree has fixed ids 1-5.
const db = useTestDatabase();
let bridge: TestBridge;

beforeAll(async () => {
  await loadOriginalDemoUsers(db.sql);
  bridge = await startTestBridge(db.url);
});
afterAll(async () => {
  await bridge?.stop();
});

describe('the refund tour', () => {
  test('a full refund in psql nets users 2 and 1 to 0.00, live; a partial one over HTTP takes back its share', async () => {
    const user2 = await subscribedClient(bridge.ws, 2);
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (4, 1000)`;
      await db.sql`INSERT INTO refunds (purchase_id, amount) SELECT max(id), 1000 FROM purchases`;
      const amounts = () => user2.frames.filter((frame) => frame.type !== 'subscribed').map((frame) => [frame.type, frame.amount]);
      await waitFor('the earning and its reversal', () => amounts().length === 2);
      expect(amounts()).toEqual([['earning_update', '50.00'], ['earning_reversed', '-50.00']]);
      for (const userId of [2, 1]) expect((await callBridge(bridge.http, 'GET', `/api/earnings/${userId}`)).json.total).toBe('0.00');

      const bought = await callBridge(bridge.http, 'POST', '/api/purchase', { userId: 4, amount: 1000 });
      const refunded = await callBridge(bridge.http, 'POST', `/api/purchases/${bought.json.purchase.id}/refunds`, { amount: '250.00', reason: 'one item returned' });
      expect(refunded.status).toBe(201);
      expect(refunded.json.reversals.map((reversal: { userId: number; amount: string }) => [reversal.userId, reversal.amount]))
        .toEqual([[2, '-12.50'], [1, '-2.50']]);
      expect((await callBridge(bridge.http, 'GET', '/api/earnings/2')).json.total).toBe('37.50');
    } finally {
      await user2.close();
    }
  });
});
