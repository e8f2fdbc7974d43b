// Slow subscribers are paged from the database at their own pace: a burst
// never cuts off a client that reads slowly, only a client that reads
// nothing at all for the stall timeout is closed (4008), and the bridge's
// memory stays bounded by the high-water mark, whatever the backlog.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { createReferralChain } from './support/referrals.js';
import { waitFor } from './support/wait.js';
import { connectClient, subscribedClient, type TestClient } from './support/ws-client.js';

const db = useTestDatabase();
const highWaterBytes = 16 * 1024;

/** The client's TCP socket, to stop and start reading as a slow phone would. */
const tcpOf = (client: TestClient) => (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;

/** Reads in short bursts: a few milliseconds of reading every `everyMs`. Returns a stop function. */
function readSlowly(client: TestClient, everyMs = 20, forMs = 2): () => void {
  const tcp = tcpOf(client);
  tcp.pause();
  const timer = setInterval(() => {
    tcp.resume();
    setTimeout(() => tcp.pause(), forMs);
  }, everyMs);
  return () => {
    clearInterval(timer);
    tcp.resume();
  };
}

const seqs = (client: TestClient, userId: number) => client.events().filter((event) => event.userId === userId).map((event) => event.seq);
const oneToN = (n: number) => Array.from({ length: n }, (_, index) => index + 1);
const counterValue = async (counter: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await counter.get()).values[0]?.value ?? 0;

describe('a burst for a slow reader', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge(db.url, { WS_HIGH_WATER_BYTES: String(highWaterBytes) });
  });
  afterAll(async () => {
    await bridge?.stop();
  });

  test('20,000 earnings in one statement reach a slow reader exactly once, in order, and it is never closed; a fast subscriber keeps its latency', async () => {
    const [slowUser, slowBuyer] = await createReferralChain(db.sql, 2);
    const [fastUser, fastBuyer] = await createReferralChain(db.sql, 2);
    const slow = await subscribedClient(bridge.ws, slowUser!);
    const fast = await subscribedClient(bridge.ws, fastUser!);
    let closedEarly = false;
    void slow.closed.then(() => (closedEarly = true));
    const stopReadingSlowly = readSlowly(slow);
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${slowBuyer!}::int, 1 FROM generate_series(1, 20000)`;
      await waitFor('the slow subscriber to fall behind and page from the database',
        async () => (await counterValue(bridge.metrics.eventPagesServed)) > 0, 30_000);

      const sentAt = Date.now();
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${fastBuyer!}, 10)`;
      await fast.waitForEvents(1, 5_000);
      // Loosely: the machine running the suite is busy with other test files too.
      expect(Date.now() - sentAt).toBeLessThan(2000);

      await slow.waitForEvents(20_000, 60_000);
      expect(seqs(slow, slowUser!)).toEqual(oneToN(20_000));
      expect(slow.frames.some((frame) => frame.type === 'catching_up' && frame.userId === slowUser)).toBe(true);
      await waitFor('the subscription to be live again', () => slow.frames.some((frame) => frame.type === 'live' && frame.lastSeq === 20_000));
      expect(closedEarly).toBe(false);
      expect(await counterValue(bridge.metrics.stalledSocketsClosed)).toBe(0);

      // Live again: the next earning arrives as it commits.
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${slowBuyer!}, 2)`;
      await slow.waitForEvents(20_001);
      expect(seqs(slow, slowUser!).at(-1)).toBe(20_001);
    } finally {
      stopReadingSlowly();
      await Promise.all([slow.close(), fast.close()]);
    }
  }, 120_000);
});

describe('a client that stops reading', () => {
  test('is closed with 4008 once it makes no progress for WS_STALL_TIMEOUT_MS, and resuming with after gets the rest', async () => {
    const bridge = await startTestBridge(db.url, { WS_HIGH_WATER_BYTES: String(highWaterBytes), WS_STALL_TIMEOUT_MS: '1500' });
    const [user, buyer] = await createReferralChain(db.sql, 2);
    const client = await subscribedClient(bridge.ws, user!);
    try {
      tcpOf(client).pause();
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer!}::int, 1 FROM generate_series(1, 20000)`;
      await waitFor('the stalled socket to be closed', async () => (await counterValue(bridge.metrics.stalledSocketsClosed)) === 1, 30_000);
      tcpOf(client).resume();
      expect((await client.closed).code).toBe(4008);
      const received = seqs(client, user!);
      expect(received).toEqual(oneToN(received.length));
      expect(received.length).toBeLessThan(20_000);

      const resumed = await subscribedClient(bridge.ws, user!, { after: received.length });
      await resumed.waitForEvents(20_000 - received.length, 60_000);
      expect([...received, ...seqs(resumed, user!)]).toEqual(oneToN(20_000));
      await resumed.close();
    } finally {
      await client.close();
      await bridge.stop();
    }
  });
});

describe('memory', () => {
  // A backlog larger than the kernel's own socket buffers (several MB per
  // socket on loopback), so that what waits for a socket must wait somewhere.
  const backlog = 30_000;

  test('50 subscribers that read nothing, each far behind, hold no more than the high-water mark each, and get everything once they read', async () => {
    const defaultHighWaterBytes = 256 * 1024;
    // Reading nothing for longer than the stall timeout would be stalling: a long one here.
    const bridge = await startTestBridge(db.url, { WS_STALL_TIMEOUT_MS: '600000' });
    const [user, buyer] = await createReferralChain(db.sql, 2);
    await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer!}::int, 1 FROM generate_series(1, ${backlog})`;
    const clients: TestClient[] = [];
    const gauge = async (name: string) => Number(/ (\d+)$/m.exec(await bridge.metrics.registry.getSingleMetricAsString(name))?.[1] ?? 0);
    try {
      const rssBefore = process.memoryUsage().rss;
      for (let index = 0; index < 50; index++) {
        const client = await connectClient(bridge.ws);
        tcpOf(client).pause();
        client.send({ type: 'subscribe', userId: user!, after: 0 });
        clients.push(client);
      }
      // Each subscriber has been handed all its socket holds, and the rest of
      // its backlog waits in the database: no page is served for a while.
      let pages = -1;
      let pagesSince = Date.now();
      await waitFor('every subscriber to fill its socket and wait for it', async () => {
        const served = await counterValue(bridge.metrics.eventPagesServed);
        if (served !== pages) [pages, pagesSince] = [served, Date.now()];
        return (await gauge('websocket_subscriptions_catching_up')) === 50 && Date.now() - pagesSince > 2000;
      }, 120_000);
      const buffered = await gauge('websocket_buffered_bytes');
      expect(buffered).toBeGreaterThan(0);
      // At most the high-water mark plus one page's overshoot per socket; never the backlog (about 10 MB each).
      expect(buffered).toBeLessThan(50 * (defaultHighWaterBytes + 64 * 1024));
      // Holding the backlogs would take about 500 MB (50 × 10 MB); the bound
      // leaves room for the heap V8 keeps (more on Node 24 than on 20: 161 MiB seen).
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(250 * 1024 * 1024);
      expect(clients.every((client) => client.socket.readyState === WebSocket.OPEN)).toBe(true);

      // Once they read, they get everything, in order (five of them, checked in full).
      const readers = clients.slice(0, 5);
      for (const client of readers) tcpOf(client).resume();
      await Promise.all(readers.map((client) => client.waitForEvents(backlog, 90_000)));
      for (const client of readers) expect(seqs(client, user!)).toEqual(oneToN(backlog));
    } finally {
      for (const client of clients) tcpOf(client).resume();
      await Promise.all(clients.map((client) => client.close()));
      await bridge.stop();
    }
  }, 240_000);
});
