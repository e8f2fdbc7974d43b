// `npm run watch`: a terminal client on the raw WebSocket that prints each
// earning with running totals and, across a bridge restart, reconnects with
// `after` so it never misses or repeats an event.

import { describe, expect, test } from 'vitest';
import { startBridgeProcess } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { freePort } from './support/postgres-server.js';
import { cleanEnvironment, runCommand } from './support/process.js';
import { createBuyerWithReferrer } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();

const earningLines = (output: string) => output.split('\n').filter((line) => line.startsWith('#'));

describe('npm run watch', () => {
  test('prints each earning with totals, and across a bridge restart misses and repeats nothing', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const port = String(await freePort());
    let bridge = await startBridgeProcess(db.url, { PORT: port });
    const watch = runCommand('node', ['dist/bridge/src/watch-command.js', '--user', String(referrer), '--url', `ws://127.0.0.1:${port}/ws`], cleanEnvironment({}));
    try {
      await waitFor('the watch to go live', () => watch.stderr().includes(`watching user ${referrer}`));
      const purchaseId = onlyRow(await db.sql<{ id: string }[]>`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1000) RETURNING id`).id;
      await waitFor('the first line', () => earningLines(watch.stdout()).length === 1);
      expect(earningLines(watch.stdout())).toEqual([
        `#1  +50.00  level 1 (rate 0.05) from user ${buyer}, purchase ${purchaseId} of 1000.00  →  total 50.00 (L1 50.00, L2 0.00)`,
      ]);

      bridge.command.interrupt('SIGTERM');
      await bridge.command.exited;
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10), (${buyer}, 20)`;
      bridge = await startBridgeProcess(db.url, { PORT: port });
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 30)`;
      await waitFor('four lines', () => earningLines(watch.stdout()).length >= 4, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(earningLines(watch.stdout()).map((line) => line.split(' ')[0])).toEqual(['#1', '#2', '#3', '#4']);
      expect(earningLines(watch.stdout())[3]).toContain('total 53.00');
      expect(watch.stderr()).toMatch(/connection closed \(1001\); reconnecting/);
    } finally {
      watch.interrupt('SIGINT');
      await watch.exited;
      bridge.command.interrupt('SIGTERM');
      await bridge.command.exited;
    }
  });

  test('bad arguments get a clear message and the usage', async () => {
    const watch = runCommand('node', ['dist/bridge/src/watch-command.js', '--user', 'two'], cleanEnvironment({}));
    expect(await watch.exited).toBe(2);
    expect(watch.stderr()).toBe('--user must be a positive user id\nusage: npm run watch -- --user <id> [--url ws://localhost:3000/ws] [--token <jwt>] [--after <seq>]\n');
  });
});
