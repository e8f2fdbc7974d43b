// The bridge as its own process, as it runs in production: restarted
// mid-stream, two of them on one database, shut down gracefully; and a
// database that goes away and comes back.

import { describe, expect, test } from 'vitest';
import { startBridgeProcess, startTestBridge } from './support/bridge.js';
import { createTestDatabase, openAdminPool, useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers } from './support/referrals.js';
import { waitFor } from './support/wait.js';
import { range, seqsOf, subscribedClient } from './support/ws-client.js';

const db = useTestDatabase();

describe('bridge processes', () => {
  test('a bridge restarted mid-stream: clients resuming with after miss nothing, and shutdown closes sockets with 1001', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const first = await startBridgeProcess(db.url);
    const client = await subscribedClient(first.ws, referrer);

    const writer = db.connect({ max: 1 });
    let written = 0;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        await writer`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1)`;
        written += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await client.waitForEvents(20);

    const stoppingAt = Date.now();
    first.command.interrupt('SIGTERM');
    expect((await client.closed).code).toBe(1001);
    expect(await first.command.exited).toBe(0);
    expect(Date.now() - stoppingAt).toBeLessThan(10_000);

    const second = await startBridgeProcess(db.url);
    const lastSeen = seqsOf(client, referrer).at(-1) ?? 0;
    const resumed = await subscribedClient(second.ws, referrer, { after: lastSeen });
    await waitFor('more purchases after the restart', () => written > lastSeen + 20);
    writing = false;
    await writes;
    await writer.end();
    await resumed.waitForEvents(written - lastSeen, 30_000);
    expect([...seqsOf(client, referrer), ...seqsOf(resumed, referrer)]).toEqual(range(1, written));
    await resumed.close();
    second.command.interrupt('SIGTERM');
    expect(await second.command.exited).toBe(0);
  });

  test('two bridge processes on one database both deliver every event to their own subscribers', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const [a, b] = await Promise.all([startBridgeProcess(db.url), startBridgeProcess(db.url)]);
    try {
      const clients = await Promise.all([
        subscribedClient(a.ws, referrer), subscribedClient(b.ws, referrer), subscribedClient(b.ws, root),
      ]);
      const [referrerOnA, referrerOnB, rootOnB] = clients;
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 5 FROM generate_series(1, 50)`;
      for (let i = 0; i < 50; i++) await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1)`;
      for (const client of clients) await client.waitForEvents(100);
      expect(seqsOf(referrerOnA, referrer)).toEqual(range(1, 100));
      expect(seqsOf(referrerOnB, referrer)).toEqual(range(1, 100));
      expect(seqsOf(rootOnB, root)).toEqual(range(1, 100));
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      a.command.interrupt('SIGTERM');
      b.command.interrupt('SIGTERM');
      await Promise.all([a.command.exited, b.command.exited]);
    }
  });
});

describe('a database that goes away and comes back', () => {
  test('health and requests answer 503 while it is down; afterwards the listener heals and subscribers miss nothing', async () => {
    // A database of its own, since the test takes it offline.
    const own = await createTestDatabase();
    const name = new URL(own.url).pathname.slice(1);
    const admin = openAdminPool();
    try {
      const { referrer, buyer } = await createBuyerWithReferrer(own.sql);
      const bridge = await startTestBridge(own.url);
      try {
        const client = await subscribedClient(bridge.ws, referrer);
        await own.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1)`;
        await client.waitForEvents(1);
        await own.sql.end();

        await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name}`;

        const health = await waitFor('health to report the outage', async () => {
          const response = await fetch(`${bridge.http}/health`);
          return response.status === 503 ? ((await response.json()) as Record<string, string>) : undefined;
        });
        expect(health).toMatchObject({ status: 'degraded', db: 'down' });
        const purchase = await fetch(`${bridge.http}/api/purchase`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: buyer, amount: 1 }),
        });
        expect(purchase.status).toBe(503);
        expect(await purchase.json()).toEqual({ error: { code: 'DATABASE_UNAVAILABLE', message: expect.any(String) } });
        await waitFor('the listener to be reported down', async () =>
          ((await (await fetch(`${bridge.http}/health`)).json()) as Record<string, string>).listener === 'down');

        await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
        const writer = own.connect({ max: 1 });
        for (let i = 0; i < 10; i++) await writer`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 2)`;
        await waitFor('health to recover', async () => (await fetch(`${bridge.http}/health`)).status === 200, 20_000);
        for (let i = 0; i < 10; i++) await writer`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 3)`;
        await writer.end();
        await client.waitForEvents(21, 20_000);
        expect(seqsOf(client, referrer)).toEqual(range(1, 21));
        await client.close();
      } finally {
        await bridge.stop();
      }
    } finally {
      await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
      await own.drop();
    }
  });
});
