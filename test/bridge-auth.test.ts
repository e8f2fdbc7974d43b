// Auth: with JWT_SECRET, reading or subscribing to user X needs an HS256 JWT
// whose sub is X; with API_KEY, POST endpoints need the key; in production
// the bridge refuses to start without both.

import { SignJWT } from 'jose';
import { describe, expect, test } from 'vitest';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { cleanEnvironment, runCommand } from './support/process.js';
import { createBuyerWithReferrer, type BuyerWithReferrer } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { connectClient, subscribedClient } from './support/ws-client.js';

const jwtSecret = 'a-test-secret-that-is-long-enough-for-hs256';
const apiKey = 'test-api-key-0123456789';
const db = useTestDatabase();
const bridge = useTestBridge(db, { JWT_SECRET: jwtSecret, API_KEY: apiKey });

async function token(subject: string, options: { secret?: string; expiresAt?: string | number } = {}) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
    .setExpirationTime(options.expiresAt ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? jwtSecret));
}

const errorCode = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;

describe('reading and subscribing with JWT_SECRET set', () => {
  test('a token whose sub is the user is accepted, over HTTP and WebSocket', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const good = await token(String(referrer));
    const response = await fetch(`${bridge.http}/api/earnings/${referrer}`, { headers: { authorization: `Bearer ${good}` } });
    expect(response.status).toBe(200);
    const client = await subscribedClient(bridge.ws, referrer, { token: good });
    const byUrl = await connectClient(`${bridge.ws}?userId=${referrer}&token=${good}`);
    await byUrl.waitForFrame('subscribed', (frame) => frame.type === 'subscribed');
    await fetch(`${bridge.http}/api/purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ userId: buyer, amount: 10 }),
    });
    await client.waitForEvents(1);
    await byUrl.waitForEvents(1);
    await Promise.all([client.close(), byUrl.close()]);
  });

  test.each([
    ['no token', async () => undefined, 401, 'UNAUTHENTICATED', 4401],
    ['a token signed with another secret', async (users: BuyerWithReferrer) => token(String(users.referrer), { secret: 'another-secret-that-is-also-long-enough' }), 401, 'INVALID_TOKEN', 4401],
    ['garbage', async () => 'not.a.jwt', 401, 'INVALID_TOKEN', 4401],
    ['an expired token', async (users: BuyerWithReferrer) => token(String(users.referrer), { expiresAt: Math.floor(Date.now() / 1000) - 60 }), 401, 'TOKEN_EXPIRED', 4401],
    ['another user\'s token', async (users: BuyerWithReferrer) => token(String(users.buyer)), 403, 'FORBIDDEN', 4403],
  ])('%s is refused: HTTP %i, and on the WebSocket an error frame, then a close', async (_, makeToken, status, code, closeCode) => {
    const users = await createBuyerWithReferrer(db.sql);
    const { referrer } = users;
    const presented = await makeToken(users);
    const response = await fetch(`${bridge.http}/api/earnings/${referrer}`, presented ? { headers: { authorization: `Bearer ${presented}` } } : {});
    expect(response.status).toBe(status);
    expect(await errorCode(response)).toBe(code);

    const client = await connectClient(bridge.ws);
    client.send({ type: 'subscribe', userId: referrer, ...(presented ? { token: presented } : {}) });
    const closed = await client.closed;
    expect(client.frames).toEqual([{ type: 'error', code, message: expect.any(String), userId: referrer }]);
    expect(closed.code).toBe(closeCode);
  });
});

describe('a subscription whose token expires while the socket is open', () => {
  const secondsFromNow = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;
  const purchase = (buyer: number) => fetch(`${bridge.http}/api/purchase`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ userId: buyer, amount: 10 }),
  });

  test('is closed with 4401 TOKEN_EXPIRED when the exp of the token it subscribed with passes, though another of its tokens is still valid', async () => {
    const lasting = await createBuyerWithReferrer(db.sql);
    const expiring = await createBuyerWithReferrer(db.sql);
    const client = await connectClient(`${bridge.ws}?userId=${expiring.referrer}&token=${await token(String(expiring.referrer), { expiresAt: secondsFromNow(2) })}`);
    await client.waitForFrame('subscribed by URL', (frame) => frame.type === 'subscribed');
    client.send({ type: 'subscribe', userId: lasting.referrer, token: await token(String(lasting.referrer)) });
    await client.waitForFrame('subscribed by message', (frame) => frame.type === 'subscribed' && frame.userId === lasting.referrer);
    await purchase(expiring.buyer);
    await client.waitForEvents(1);

    expect(await client.closed).toEqual({ code: 4401, reason: 'TOKEN_EXPIRED' });
    expect(client.frames.at(-1)).toEqual({ type: 'error', code: 'TOKEN_EXPIRED', message: expect.stringContaining('has expired'), userId: expiring.referrer });
  });

  test('an unsubscribed subscription\'s token no longer closes the socket: the one subscribed after it does, at its own exp', async () => {
    const first = await createBuyerWithReferrer(db.sql);
    const second = await createBuyerWithReferrer(db.sql);
    const client = await subscribedClient(bridge.ws, first.referrer, { token: await token(String(first.referrer), { expiresAt: secondsFromNow(1) }) });
    client.send({ type: 'unsubscribe', userId: first.referrer });
    await client.waitForFrame('unsubscribed', (frame) => frame.type === 'unsubscribed');
    client.send({ type: 'subscribe', userId: second.referrer, token: await token(String(second.referrer), { expiresAt: secondsFromNow(3) }) });
    await client.waitForFrame('subscribed', (frame) => frame.type === 'subscribed' && frame.userId === second.referrer);

    expect(await client.closed).toEqual({ code: 4401, reason: 'TOKEN_EXPIRED' });
    expect(client.frames.filter((frame) => frame.type === 'error')).toEqual([
      { type: 'error', code: 'TOKEN_EXPIRED', message: expect.any(String), userId: second.referrer },
    ]);
  });
});

describe('writing with API_KEY set', () => {
  test('POST endpoints need "Authorization: Bearer <API_KEY>"', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const post = (authorization?: string) => fetch(`${bridge.http}/api/purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ userId: buyer, amount: 1 }),
    });
    const purchasesOfBuyer = async () =>
      onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int FROM purchases WHERE user_id = ${buyer}`).count;
    const missing = await post();
    expect(missing.status).toBe(401);
    expect(await errorCode(missing)).toBe('UNAUTHENTICATED');
    expect((await post('Bearer wrong-key-0123456789')).status).toBe(401);
    expect(await purchasesOfBuyer()).toBe(0);
    expect((await post(`Bearer ${apiKey}`)).status).toBe(201);
    expect(await purchasesOfBuyer()).toBe(1);
    const users = await fetch(`${bridge.http}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' });
    expect(users.status).toBe(401);
  });
});

describe('production', () => {
  test('NODE_ENV=production without secrets refuses to start, saying which are missing', async () => {
    const command = runCommand('node', ['dist/bridge/src/main.js'], cleanEnvironment({ NODE_ENV: 'production', DATABASE_URL: db.url, JWT_SECRET: jwtSecret }));
    expect(await command.exited).toBe(1);
    expect(command.stderr().trim()).toMatch(/^referral-earnings could not start \[CONFIG_INSECURE\]: NODE_ENV=production requires API_KEY/);
    expect(command.stderr()).not.toContain(jwtSecret);
  });

  test('without secrets in development it runs open and says so loudly', async () => {
    const command = runCommand('node', ['dist/bridge/src/main.js'], cleanEnvironment({ DATABASE_URL: db.url, HOST: '127.0.0.1' }));
    const warning = await command.waitForLog('the open-access warning', (line) => line.msg.startsWith('RUNNING OPEN'));
    expect(warning.level).toBe(40);
    await command.waitForLog('ready', (line) => line.msg.startsWith('ready'));
    command.interrupt('SIGTERM');
    expect(await command.exited).toBe(0);
  });
});
