// A seq gap in the ledger cannot be made through SQL any more, but should one
// appear anyway (forced here by a superuser with triggers off), the bridge
// logs it, counts it in earning_seq_gaps_total and goes on delivering that
// user's events from the next seq, rather than waiting for the missing ones.

import { describe, expect, test } from 'vitest';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer, purchase } from './support/referrals.js';
import { seqsOf, subscribedClient } from './support/ws-client.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

describe('a seq gap in the ledger', () => {
  test('is counted once, and the subscriber still receives the events after it', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const gapsCounted = async () => (await bridge.metrics.earningSeqGaps.get()).values[0]?.value ?? 0;
    const gapsBefore = await gapsCounted();
    const client = await subscribedClient(bridge.ws, referrer);
    await purchase(db.sql, buyer, '10');
    await client.waitForEvents(1);

    await db.sql.begin(async (sql) => {
      await sql`SET LOCAL session_replication_role = replica`;
      await sql`UPDATE earning_sequences SET last_seq = last_seq + 3 WHERE user_id = ${referrer}`;
    });
    await purchase(db.sql, buyer, '20');
    await client.waitForEvents(2);
    await purchase(db.sql, buyer, '30');
    await client.waitForEvents(3);

    expect(seqsOf(client, referrer)).toEqual([1, 5, 6]);
    expect(client.events().map((event) => event.amount)).toEqual(['0.50', '1.00', '1.50']);
    expect(await gapsCounted()).toBe(gapsBefore + 1);
    await client.close();
  });
});
