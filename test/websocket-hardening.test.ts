// WebSocket requests that could be read two ways, and the order and codes of
// the answers: a message naming a key twice, a URL naming a parameter twice,
// a subscribe that races the URL's own subscription, and a socket whose
// events cannot be read while it catches up.

import { describe, expect, test } from 'vitest';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer } from './support/referrals.js';
import { waitFor } from './support/wait.js';
import { connectClient } from './support/ws-client.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

describe('a message or URL that names something twice is refused with an error frame', () => {
  test('a message with a key given twice is INVALID_MESSAGE, and subscribes to nobody', async () => {
    const first = await createBuyerWithReferrer(db.sql);
    const second = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(bridge.ws);
    client.send(`{"type":"subscribe","userId":${first.referrer},"userId":${second.referrer}}`);
    const error = await client.waitForFrame('an error frame', (frame) => frame.type === 'error');
    expect(error).toEqual({ type: 'error', code: 'INVALID_MESSAGE', message: expect.stringContaining('each key at most once') });
    // The socket still works, and the refused message subscribed nobody.
    client.send({ type: 'subscribe', userId: first.referrer });
    await client.waitForFrame('subscribed', (frame) => frame.type === 'subscribed');
    expect(client.frames.map((frame) => [frame.type, frame.userId])).toEqual([['error', undefined], ['subscribed', first.referrer]]);
    await client.close();
  });

  test.each([
    ['userId', (user: number) => `userId=${user}&userId=${user + 1}`],
    ['after', (user: number) => `userId=${user}&after=0&after=1`],
    ['token', (user: number) => `userId=${user}&token=a&token=b`],
  ])('a URL giving %s twice is INVALID_MESSAGE, and subscribes to nobody', async (name, query) => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(`${bridge.ws}?${query(referrer)}`);
    const error = await client.waitForFrame('an error frame', (frame) => frame.type === 'error');
    expect(error).toEqual({ type: 'error', code: 'INVALID_MESSAGE', message: `the URL gives ${name} more than once; give it once` });
    expect(client.frames.some((frame) => frame.type === 'subscribed')).toBe(false);
    await client.close();
  });
});

describe('a message key or URL parameter the bridge does not know is refused, never ignored', () => {
  test('a subscribe with a misspelt after is INVALID_MESSAGE naming the allowed keys, and subscribes to nobody (no live-only subscription without its catch-up)', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(bridge.ws);
    client.send(`{"type":"subscribe","userId":${referrer},"afetr":0}`);
    const error = await client.waitForFrame('an error frame', (frame) => frame.type === 'error');
    expect(error).toEqual({ type: 'error', code: 'INVALID_MESSAGE', message: 'unknown key "afetr": subscribe messages may hold type, userId, after and token only' });
    client.send({ type: 'unsubscribe', userId: referrer, after: 0 });
    await waitFor('two error frames', () => client.frames.length >= 2);
    expect(client.frames[1]).toEqual({ type: 'error', code: 'INVALID_MESSAGE', message: 'unknown key "after": unsubscribe messages may hold type and userId only' });
    expect(client.frames.some((frame) => frame.type === 'subscribed')).toBe(false);
    await client.close();
  });

  test('a URL with a misspelt after is INVALID_MESSAGE naming the allowed parameters, and subscribes to nobody', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(`${bridge.ws}?userId=${referrer}&afetr=0`);
    const error = await client.waitForFrame('an error frame', (frame) => frame.type === 'error');
    expect(error).toEqual({ type: 'error', code: 'INVALID_MESSAGE', message: 'unknown URL parameter "afetr": /ws takes userId, after and token only' });
    expect(client.frames.some((frame) => frame.type === 'subscribed')).toBe(false);
    await client.close();
  });
});

describe('answers come in the order of the requests', () => {
  test('a subscribe right on open to the user the URL names is answered ALREADY_SUBSCRIBED after "subscribed"', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(`${bridge.ws}?userId=${referrer}`);
    client.send({ type: 'subscribe', userId: referrer });
    await waitFor('two answers', () => client.frames.length >= 2);
    expect(client.frames.map((frame) => [frame.type, frame.code])).toEqual([['subscribed', undefined], ['error', 'ALREADY_SUBSCRIBED']]);
    await client.close();
  });
});

describe('a subscription whose events cannot be read while it catches up', () => {
  test('is closed with 1013 (try again later), not 1001 (the bridge is shutting down)', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
    // The catch-up read waits for this lock; its connection is then killed, as when the database goes away.
    await db.sql.begin(async (tx) => {
      await tx`LOCK TABLE refunds IN ACCESS EXCLUSIVE MODE`;
      const client = await connectClient(`${bridge.ws}?userId=${referrer}&after=0`);
      // (Read from another connection: a transaction sees pg_stat_activity as it was when it first looked.)
      await waitFor('the catch-up read to wait for the lock', async () => (await db.sql<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM earning_events e%'`).length > 0);
      await db.sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM earning_events e%'`;
      const closed = await client.closed;
      expect(closed).toEqual({ code: 1013, reason: 'cannot read your events right now: reconnect shortly and resume with after' });
      expect(client.frames.map((frame) => frame.type)).toEqual(['subscribed', 'catching_up']);
    });
  });
});
