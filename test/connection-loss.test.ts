// Every database connection of a running bridge killed, again and again,
// while purchases arrive over HTTP and a subscriber listens. postgres.js
// 3.4.9 could crash the whole process here (patches/postgres+3.4.9.patch):
// this proves the process stays up and that nothing is lost or doubled.

import { expect, test } from 'vitest';
import { startBridgeProcess, type BridgeProcess } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { createReferralChain } from './support/referrals.js';
import { waitFor } from './support/wait.js';
import { range, seqsOf, subscribedClient } from './support/ws-client.js';

const db = useTestDatabase();

const loops = 8;
const killRounds = 10;
/** The 503 codes that tell a client to send the same request again. */
const retryableCodes = ['DATABASE_UNAVAILABLE', 'TRANSACTION_CONFLICT'];

/** The parts of a purchase answer this test reads: a receipt's, or an error's. */
interface PurchaseAnswer {
  purchase?: { idempotencyKey?: string };
  earnings?: Array<{ userId: number; seq: number }>;
  error?: { code?: string };
}

type Outcome =
  | { kind: 'receipt'; seq: number }
  | { kind: 'retryable' }
  | { kind: 'unexpected'; detail: string };

/** One POST /api/purchase, sorted into a receipt, a retryable refusal, or anything else. */
async function purchaseOnce(bridge: BridgeProcess, userId: number, referrer: number, key: string): Promise<Outcome> {
  let status: number;
  let text: string;
  try {
    const response = await fetch(`${bridge.http}/api/purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ userId, amount: '10' }),
      signal: AbortSignal.timeout(10_000),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    return { kind: 'unexpected', detail: `${key}: no answer (${String((error as Error).cause ?? error)})` };
  }
  const body = (text.startsWith('{') ? JSON.parse(text) : {}) as PurchaseAnswer;
  const seq = body.earnings?.find((earning) => earning.userId === referrer)?.seq;
  if ((status === 201 || status === 200) && body.purchase?.idempotencyKey === key && typeof seq === 'number') {
    return { kind: 'receipt', seq };
  }
  if (status === 503 && retryableCodes.includes(body.error?.code ?? '')) return { kind: 'retryable' };
  return { kind: 'unexpected', detail: `${key}: ${status} ${text}` };
}

/** Loops that each send purchases one after another, every one with a new Idempotency-Key. */
function purchaseLoad(bridge: BridgeProcess, userId: number, referrer: number) {
  const receipts = new Map<string, number>();
  const retryable: string[] = [];
  const unexpected: string[] = [];
  let inFlight = 0;
  let stopping = false;
  const loop = async (index: number) => {
    for (let n = 0; !stopping; n++) {
      const key = `loss-${index}-${n}`;
      inFlight += 1;
      const outcome = await purchaseOnce(bridge, userId, referrer, key);
      inFlight -= 1;
      if (outcome.kind === 'receipt') receipts.set(key, outcome.seq);
      else if (outcome.kind === 'retryable') retryable.push(key);
      else {
        unexpected.push(outcome.detail);
        return;
      }
    }
  };
  const done = Promise.all(range(1, loops).map(loop));
  return {
    receipts,
    retryable,
    unexpected,
    inFlight: () => inFlight,
    async stop() {
      stopping = true;
      await done;
    },
  };
}

/** Throws, with what the bridge printed, once its process has exited. */
function assertRunning(bridge: BridgeProcess): void {
  const { child } = bridge.command;
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`the bridge exited (${child.exitCode ?? child.signalCode}):\n${bridge.command.stderr()}`);
  }
}

async function healthy(bridge: BridgeProcess): Promise<boolean> {
  assertRunning(bridge);
  try {
    return (await fetch(`${bridge.http}/health`, { signal: AbortSignal.timeout(5_000) })).status === 200;
  } catch (error) {
    throw new Error(`/health got no answer (${String((error as Error).cause ?? error)}); the bridge printed:\n${bridge.command.stderr()}`);
  }
}

test('killing every backend of the bridge under load: it stays up, each purchase is recorded once, and the subscriber gets every earning once', async () => {
  const [referrer, buyer] = await createReferralChain(db.sql, 2);
  const bridge = await startBridgeProcess(db.url);
  const client = await subscribedClient(bridge.ws, referrer!);
  const load = purchaseLoad(bridge, buyer!, referrer!);
  try {
    for (let round = 1; round <= killRounds; round++) {
      // A random amount of progress first, so the kills strike at different moments of a purchase.
      const target = load.receipts.size + 5 + Math.floor(Math.random() * 40);
      await waitFor(`${target} receipts before kill round ${round}`, () => {
        assertRunning(bridge);
        return load.unexpected.length > 0 || (load.receipts.size >= target && load.inFlight() >= loops / 2);
      }, 20_000);
      expect(load.unexpected, bridge.command.stderr()).toEqual([]);
      const [row] = await db.sql<{ killed: number }[]>`
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS killed FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'referral-bridge'`;
      expect(row!.killed, `backends killed in round ${round}`).toBeGreaterThan(0);
      await waitFor(`/health to be 200 after kill round ${round}`, () => healthy(bridge), 20_000);
    }
    await load.stop();

    expect(load.unexpected, bridge.command.stderr()).toEqual([]);
    expect(bridge.command.child.exitCode).toBeNull();
    expect(bridge.command.stderr()).not.toContain('TypeError');
    expect(load.retryable.length, 'requests refused as retryable while backends were killed').toBeGreaterThan(0);

    // A client that got a retryable error sends the same request again.
    for (const key of load.retryable) {
      const outcome = await waitFor(`a receipt for ${key}`, async () => {
        const answer = await purchaseOnce(bridge, buyer!, referrer!, key);
        return answer.kind === 'retryable' ? undefined : answer;
      }, 20_000);
      if (outcome.kind === 'receipt') load.receipts.set(key, outcome.seq);
      else load.unexpected.push(outcome.detail);
    }
    expect(load.unexpected).toEqual([]);
    // Sent after everything else: once its event arrives, every earlier one has had its chance to.
    const barrier = await purchaseOnce(bridge, buyer!, referrer!, 'loss-barrier');
    if (barrier.kind !== 'receipt') throw new Error(`the purchase after the kills got no receipt: ${JSON.stringify(barrier)}`);
    load.receipts.set('loss-barrier', barrier.seq);

    const recorded = await db.sql<{ key: string; count: number }[]>`
      SELECT idempotency_key AS key, count(*)::int AS count FROM purchases WHERE user_id = ${buyer!} GROUP BY 1`;
    const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : 1);
    expect([...recorded].sort(byKey)).toEqual([...load.receipts.keys()].map((key) => ({ key, count: 1 })).sort(byKey));
    const committed = (await db.sql<{ seq: number }[]>`
      SELECT seq::int AS seq FROM earnings WHERE user_id = ${referrer!} ORDER BY seq`).map((row) => row.seq);
    expect(committed).toEqual(range(1, load.receipts.size));
    expect([...load.receipts.values()].sort((a, b) => a - b)).toEqual(committed);

    await waitFor('the subscriber to get the last earning', () => seqsOf(client, referrer!).includes(barrier.seq), 20_000);
    expect(seqsOf(client, referrer!)).toEqual(committed);
    expect(bridge.command.child.exitCode).toBeNull();
    await client.close();
  } finally {
    await load.stop();
    // A crashed bridge has nothing left to stop, and the error that says so must not be hidden.
    if (bridge.command.child.exitCode === null && bridge.command.child.signalCode === null) bridge.command.interrupt('SIGTERM');
    await bridge.command.exited;
  }
});
