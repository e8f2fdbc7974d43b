// `npm run watch` shows reversals: negative and marked REVERSED, each line
// with the totals as they stood right after its event, even when the earning
// and its reversal arrive together.

import { describe, expect, test } from 'vitest';
import { startBridgeProcess } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { cleanEnvironment, runCommand } from './support/process.js';
import { createBuyerWithReferrer } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();

const eventLines = (output: string) => output.split('\n').filter((line) => line.startsWith('#'));

describe('npm run watch', () => {
  test('prints a reversal negative and marked, with the totals after each event', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const bridge = await startBridgeProcess(db.url);
    const watch = runCommand('node', ['dist/bridge/src/watch-command.js', '--user', String(referrer), '--url', bridge.ws], cleanEnvironment({}));
    try {
      await waitFor('the watch to go live', () => watch.stderr().includes(`watching user ${referrer}`));
      // The earning and its reversal commit together, so they arrive together.
      const { purchaseId, refundId } = await db.sql.begin(async (sql) => {
        const purchased = onlyRow(await sql<{ id: string }[]>`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1000) RETURNING id::text`);
        const refunded = onlyRow(await sql<{ id: string }[]>`INSERT INTO refunds (purchase_id, amount) VALUES (${purchased.id}, 1000) RETURNING id::text`);
        return { purchaseId: purchased.id, refundId: refunded.id };
      });
      await waitFor('two lines', () => eventLines(watch.stdout()).length === 2);
      expect(eventLines(watch.stdout())).toEqual([
        `#1  +50.00  level 1 (rate 0.05) from user ${buyer}, purchase ${purchaseId} of 1000.00  →  total 50.00 (L1 50.00, L2 0.00)`,
        `#2  -50.00  REVERSED  level 1 (rate 0.05) from user ${buyer}, refund ${refundId} of 1000.00 on purchase ${purchaseId} of 1000.00  →  total 0.00 (L1 0.00, L2 0.00)`,
      ]);
    } finally {
      watch.interrupt('SIGINT');
      await watch.exited;
      bridge.command.interrupt('SIGTERM');
      await bridge.command.exited;
    }
  });
});
