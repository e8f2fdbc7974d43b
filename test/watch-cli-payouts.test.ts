// `npm run watch` shows payout events: marked PAYOUT, with the payout's id,
// amount and currency and what became of it, between the earnings, each line
// with the totals as they stood right after its event (a payout moves money
// between states and leaves the total as it was). The bridge's earning log
// (LOG_EARNINGS) has a line for each too.

import { afterEach, describe, expect, test } from 'vitest';
import { startBridgeProcess } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { createPayouts, setSettings } from './support/payouts.js';
import { cleanEnvironment, runCommand } from './support/process.js';
import { createBuyerWithReferrer, purchase } from './support/referrals.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();
afterEach(async () => {
  await setSettings(db.sql);
});

const eventLines = (output: string) => output.split('\n').filter((line) => line.startsWith('#'));

describe('npm run watch', () => {
  test('prints payouts created, paid and failed, marked PAYOUT, with the totals after each event; the bridge logs them', async () => {
    await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const bridge = await startBridgeProcess(db.url, { LOG_EARNINGS: 'true' });
    const watch = runCommand('node', ['dist/bridge/src/watch-command.js', '--user', String(referrer), '--url', bridge.ws], cleanEnvironment({}));
    try {
      await waitFor('the watch to go live', () => watch.stderr().includes(`watching user ${referrer}`));
      const purchaseId = await purchase(db.sql, buyer, '1999.99');
      const [payout] = await createPayouts(db.sql, [referrer]);
      await db.sql`SELECT mark_payout_paid(${payout!.id}::bigint, 'UTR-42')`;
      await purchase(db.sql, buyer, '1000');
      const [second] = await createPayouts(db.sql, [referrer]);
      await db.sql`SELECT mark_payout_failed(${second!.id}::bigint, 'account closed')`;
      await waitFor('six lines', () => eventLines(watch.stdout()).length === 6);
      expect(eventLines(watch.stdout())).toEqual([
        `#1  +99.9995  level 1 (rate 0.05) from user ${buyer}, purchase ${purchaseId} of 1999.99  →  total 99.9995 (L1 99.9995, L2 0.00)`,
        `#2  PAYOUT ${payout!.id} of 99.99 INR created (pending)  →  total 99.9995 (L1 99.9995, L2 0.00)`,
        `#3  PAYOUT ${payout!.id} of 99.99 INR paid (reference UTR-42)  →  total 99.9995 (L1 99.9995, L2 0.00)`,
        `#4  +50.00  level 1 (rate 0.05) from user ${buyer}, purchase ${Number(purchaseId) + 1} of 1000.00  →  total 149.9995 (L1 149.9995, L2 0.00)`,
        `#5  PAYOUT ${second!.id} of 50.00 INR created (pending)  →  total 149.9995 (L1 149.9995, L2 0.00)`,
        `#6  PAYOUT ${second!.id} of 50.00 INR failed: account closed  →  total 149.9995 (L1 149.9995, L2 0.00)`,
      ]);
      await bridge.command.waitForLog('the paid payout logged', (line) => line.msg === `payout: user ${referrer}'s payout ${payout!.id} of 99.99 INR is paid [seq 3]`);
    } finally {
      watch.interrupt('SIGINT');
      await watch.exited;
      bridge.command.interrupt('SIGTERM');
      await bridge.command.exited;
    }
  });
});
