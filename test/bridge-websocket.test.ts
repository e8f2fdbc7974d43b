// Live subscriptions over the raw WebSocket: every earning of a user, live
// and after reconnects, in seq order, with no gap and no duplicate.

import { describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { startTestBridge, useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers, createUser } from './support/referrals.js';
import { killListeners, waitFor } from './support/wait.js';
import { connectClient, range, seqsOf, subscribedClient, type TestClient } from './support/ws-client.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

describe('live earnings over /ws', () => {
  test('a purchase inserted with plain SQL reaches both referrers\' sockets', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const level1 = await subscribedClient(bridge.ws, referrer);
    const level2 = await connectClient(`${bridge.ws}?userId=${root}`);
    await level2.waitForFrame('subscribed', (frame) => frame.type === 'subscribed');
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1999.99)`;
    await level1.waitForEvents(1);
    await level2.waitForEvents(1);
    expect(level1.frames).toEqual([
      { type: 'subscribed', userId: referrer, lastSeq: 0 },
      expect.objectContaining({ type: 'earning_update', userId: referrer, seq: 1, level: 1, amount: '99.9995', fromUserId: buyer }),
    ]);
    expect(level2.events()).toEqual([expect.objectContaining({ userId: root, seq: 1, level: 2, amount: '19.9999' })]);
    await Promise.all([level1.close(), level2.close()]);
  });

  test('resuming with after receives exactly the events missed while disconnected', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const client = await subscribedClient(bridge.ws, referrer);
    for (let i = 1; i <= 3; i++) await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, ${i})`;
    await client.waitForEvents(3);
    await client.close();

    for (let i = 4; i <= 7; i++) await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, ${i})`;
    const resumed = await connectClient(`${bridge.ws}?userId=${referrer}&after=3`);
    await resumed.waitForEvents(4);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 8)`;
    await resumed.waitForEvents(5);
    expect(resumed.frames[0]).toEqual({ type: 'subscribed', userId: referrer, lastSeq: 7 });
    expect(seqsOf(resumed, referrer)).toEqual([4, 5, 6, 7, 8]);
    await resumed.close();
  });

  test('a replay that runs while new earnings commit has no gap and no duplicate', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 1 FROM generate_series(1, 3000)`;
    const writer = db.connect({ max: 2 });
    let writing = true;
    let written = 3000;
    const writes = (async () => {
      while (writing) {
        await writer`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 2), (${buyer}, 3)`;
        written += 2;
      }
    })();
    const client = await subscribedClient(bridge.ws, referrer, { after: 0 });
    await waitFor('a replay well under way', () => client.events().length > 3100, 30_000);
    writing = false;
    await writes;
    await writer.end();
    await client.waitForEvents(written, 30_000);
    expect(seqsOf(client, referrer)).toEqual(range(1, written));
    await client.close();
  });

  test('the listener\'s backend is killed while purchases keep coming: every subscriber still gets every event once, in order', async () => {
    const chains = await Promise.all([1, 2, 3].map(() => createBuyerWithTwoReferrers(db.sql)));
    // Each subscriber with the user it watches: a chain's root and its referrer.
    const subscribers = await Promise.all(chains.flatMap(({ root, referrer }) => [root, referrer]).map(async (userId) =>
      ({ userId, client: await subscribedClient(bridge.ws, userId) })));
    const reconnects = async () => (await bridge.metrics.listenerReconnects.get()).values[0]?.value ?? 0;
    const reconnectsBefore = await reconnects();
    let killed = 0;
    for (let round = 1; round <= 40; round++) {
      await Promise.all(chains.map(({ buyer }) => db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, ${round})`));
      if (round % 10 === 5) {
        killed += await killListeners(db.sql);
      }
    }
    expect(killed).toBe(4);
    for (const { client } of subscribers) await client.waitForEvents(40, 30_000);
    for (const { userId, client } of subscribers) expect(seqsOf(client, userId)).toEqual(range(1, 40));
    expect(await reconnects()).toBeGreaterThan(reconnectsBefore);
    await Promise.all(subscribers.map(({ client }) => client.close()));
  });

  test('1,000 sockets over 100 users each receive exactly their own events', async () => {
    const root = await createUser(db.sql);
    const users = await db.sql<{ id: number }[]>`
      INSERT INTO users (referred_by) SELECT ${root}::int FROM generate_series(1, 100) RETURNING id`;
    const buyers = await db.sql<{ id: number; referredBy: number }[]>`
      INSERT INTO users (referred_by) SELECT id FROM unnest(${users.map((user) => user.id)}::int[]) AS u (id)
      RETURNING id, referred_by AS "referredBy"`;
    // Buyer i purchases i times (1 to 100), in one statement: its referrer earns i times.
    const expectedCount = new Map(buyers.map((buyer, index) => [buyer.referredBy, index + 1]));
    const subscribers: Array<{ userId: number; earnings: number; client: TestClient }> = [];
    for (let batch = 0; batch < 10; batch++) {
      subscribers.push(...await Promise.all(users.map(async ({ id }) =>
        ({ userId: id, earnings: expectedCount.get(id) ?? 0, client: await subscribedClient(bridge.ws, id) }))));
    }
    await db.sql`
      INSERT INTO purchases (user_id, amount)
      SELECT buyer.id, 1 FROM unnest(${buyers.map((buyer) => buyer.id)}::int[]) WITH ORDINALITY AS buyer (id, n),
      generate_series(1, buyer.n::int)`;
    for (const { client, earnings } of subscribers) await client.waitForEvents(earnings, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const { userId, earnings, client } of subscribers) {
      expect(client.events().every((event) => event.userId === userId)).toBe(true);
      expect(seqsOf(client, userId)).toEqual(range(1, earnings));
    }
    await Promise.all(subscribers.map(({ client }) => client.close()));
  });

  test('subscribe, unsubscribe and subscribe again in one breath: one live subscription, every event once', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1)`;
    const client = await connectClient(bridge.ws);
    client.send({ type: 'subscribe', userId: referrer, after: 0 });
    client.send({ type: 'unsubscribe', userId: referrer });
    client.send({ type: 'subscribe', userId: referrer, after: 0 });
    await client.waitForFrame('the second subscription', () => client.frames.filter((frame) => frame.type === 'subscribed').length >= 1);
    for (let i = 2; i <= 5; i++) await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, ${i})`;
    await client.waitForEvents(5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.frames.filter((frame) => frame.type === 'subscribed')).toHaveLength(1);
    expect(seqsOf(client, referrer)).toEqual([1, 2, 3, 4, 5]);
    await client.close();
  });

  test('unsubscribe stops the events of that user only', async () => {
    const { referrer: a, buyer: buyerA } = await createBuyerWithReferrer(db.sql);
    const { referrer: b, buyer: buyerB } = await createBuyerWithReferrer(db.sql);
    const client = await subscribedClient(bridge.ws, a);
    client.send({ type: 'subscribe', userId: b });
    await client.waitForFrame('second subscription', (frame) => frame.type === 'subscribed' && frame.userId === b);
    client.send({ type: 'unsubscribe', userId: a });
    await client.waitForFrame('unsubscribed', (frame) => frame.type === 'unsubscribed' && frame.userId === a);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyerA}, 1), (${buyerB}, 1)`;
    await client.waitForEvents(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.events().map((event) => event.userId)).toEqual([b]);
    await client.close();
  });
});

describe('bad messages and limits', () => {
  test('bad messages get an error frame and the connection stays open', async () => {
    const client = await connectClient(bridge.ws);
    const cases: Array<[unknown, string]> = [
      ['not json', 'INVALID_MESSAGE'],
      [[1, 2], 'INVALID_MESSAGE'],
      [{ type: 'dance' }, 'INVALID_MESSAGE'],
      [{ type: 'subscribe', userId: -3 }, 'INVALID_MESSAGE'],
      [{ type: 'subscribe', userId: 2, after: 'soon' }, 'INVALID_MESSAGE'],
      [{ type: 'subscribe', userId: 987654 }, 'USER_NOT_FOUND'],
      [{ type: 'unsubscribe', userId: 1 }, 'NOT_SUBSCRIBED'],
    ];
    for (const [index, [message, code]] of cases.entries()) {
      client.send(message);
      await client.waitForFrame(`error ${index + 1}`, () => client.frames.filter((frame) => frame.type === 'error').length > index);
      expect(client.frames.filter((frame) => frame.type === 'error')[index]).toMatchObject({ code, message: expect.any(String) });
    }
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    await client.close();
  });

  test('after beyond the user\'s last seq is refused', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(bridge.ws);
    client.send({ type: 'subscribe', userId: referrer, after: 5 });
    expect(await client.waitForFrame('error', (frame) => frame.type === 'error')).toMatchObject({ code: 'INVALID_AFTER', userId: referrer });
    await client.close();
  });

  test('a second subscription to one user, and more than 100 users on one connection, are refused', async () => {
    const referrer = await createUser(db.sql);
    const users = await db.sql<{ id: number }[]>`INSERT INTO users (name) SELECT 'many' FROM generate_series(1, 99) RETURNING id`;
    const oneTooMany = await createUser(db.sql);
    const client = await subscribedClient(bridge.ws, referrer);
    client.send({ type: 'subscribe', userId: referrer });
    expect(await client.waitForFrame('error', (frame) => frame.type === 'error')).toMatchObject({ code: 'ALREADY_SUBSCRIBED' });
    for (const user of users) client.send({ type: 'subscribe', userId: user.id });
    await waitFor('100 subscriptions', () => client.frames.filter((frame) => frame.type === 'subscribed').length === 100);
    client.send({ type: 'subscribe', userId: oneTooMany });
    expect(await client.waitForFrame('limit error', (frame) => frame.code === 'TOO_MANY_SUBSCRIPTIONS')).toMatchObject({ type: 'error' });
    await client.close();
  });

  test('a frame over 4 KiB closes the connection with 1009', async () => {
    const client = await connectClient(bridge.ws);
    client.send({ type: 'subscribe', userId: 1, padding: 'x'.repeat(4 * 1024) });
    expect((await client.closed).code).toBe(1009);
  });

  test('closing the server closes every socket with 1001', async () => {
    const closingBridge = await startTestBridge(db.url);
    const referrer = await createUser(db.sql);
    const clients = await Promise.all([subscribedClient(closingBridge.ws, referrer), connectClient(closingBridge.ws)]);
    await closingBridge.stop();
    expect(await Promise.all(clients.map(async (client) => (await client.closed).code))).toEqual([1001, 1001]);
  });
});
