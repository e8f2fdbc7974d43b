// The WhatsApp worker (its own process, as `npm run worker`) draining the
// outbox to a fake Twilio on this machine at TWILIO_MAX_MPS, each message
// sent once; then 100,000 messages queued while Twilio answers every send
// with 503 (unavailable: retried, unlike a dropped connection, whose outcome
// is unknown), and what the retrying worker holds in memory meanwhile.

import { performance } from 'node:perf_hooks';
import { startFakeTwilio, twilioError } from '../../test/support/fake-twilio.js';
import { sampleResidentMemory } from '../../test/support/memory.js';
import { cleanEnvironment, runCommand } from '../../test/support/process.js';
import { onlyRow } from '../../test/support/rows.js';
import { workerEnvironment } from '../../test/support/whatsapp.js';
import { holdsWithin } from '../load.js';
import { mebibytes, percent, rate } from '../report.js';
import { endCommand, type Bench, type ScenarioDefinition } from '../runner.js';

async function startWorker(bench: Bench, twilioUrl: string, env: Record<string, string>) {
  const worker = runCommand('node', ['dist/bridge/src/worker-command.js'],
    cleanEnvironment({ DATABASE_URL: bench.db.url, LOG_LEVEL: 'warn', ...workerEnvironment(twilioUrl, { TWILIO_TIMEOUT_MS: '10000', ...env }) }));
  const { pid } = worker.child;
  if (pid === undefined) throw new Error('the worker process has no pid');
  const stop = () => endCommand(worker);
  bench.defer(stop);
  return { pid, stop };
}

export const whatsappDrain: ScenarioDefinition = {
  title: 'WhatsApp drain',
  perTransport: false,
  async run(bench) {
    const { db, fixture, full } = bench;
    const { sql } = db;
    const phoned = [...fixture.coldRoots, ...fixture.coldReferrers];
    await sql`UPDATE users SET phone_number = '+49151' || lpad(id::text, 7, '0') WHERE id = ANY(${phoned}::int[])`;
    // Later scenarios' purchases queue no messages.
    bench.defer(() => sql`UPDATE users SET phone_number = NULL WHERE id = ANY(${phoned}::int[])`);
    const twilio = await startFakeTwilio();
    bench.defer(() => twilio.close());
    const sent = async () => onlyRow(await sql<{ count: number }[]>`SELECT count(*)::int AS count FROM whatsapp_outbox WHERE status = 'sent'`).count;

    const mps = full ? 200 : 500;
    const messages = full ? 10_000 : 2_000;
    await sql`INSERT INTO purchases (user_id, amount)
      SELECT buyer, 1 FROM unnest(${fixture.coldBuyers}::int[]) AS buyer, generate_series(1, ${messages / 2 / fixture.coldBuyers.length})`;
    const started = performance.now();
    const sender = await startWorker(bench, twilio.url, { TWILIO_MAX_MPS: String(mps), WHATSAPP_CONCURRENCY: '20' });
    const drained = await holdsWithin(`${messages} messages sent`, 120_000, async () => (await sent()) >= messages);
    const seconds = (performance.now() - started) / 1000;
    await sender.stop();
    bench.check(drained && (await sent()) === messages && twilio.requests.length === messages,
      `${messages} messages sent once each (${await sent()} marked sent, ${twilio.requests.length} requests to Twilio)`);
    bench.record(`${messages} queued, TWILIO_MAX_MPS ${mps}: messages/s, % of the limit`, [rate(messages / seconds), percent((messages / seconds / mps) * 100)],
      'including the worker\'s start-up');

    twilio.answer = () => twilioError(503, 20503, 'Service Unavailable');
    await sql`INSERT INTO purchases (user_id, amount) SELECT buyer, 1 FROM unnest(${fixture.coldBuyers}::int[]) AS buyer, generate_series(1, 50)`;
    const queued = onlyRow(await sql<{ count: number }[]>`SELECT count(*)::int AS count FROM whatsapp_outbox WHERE status IN ('queued', 'sending')`).count;
    const retrier = await startWorker(bench, twilio.url, { WHATSAPP_RETRY_BASE_MS: '200', TWILIO_MAX_MPS: '5000', WHATSAPP_CONCURRENCY: '50' });
    const memory = sampleResidentMemory(retrier.pid);
    await new Promise((resolve) => setTimeout(resolve, full ? 20_000 : 6_000));
    const peak = memory.stop();
    await retrier.stop();
    bench.check((await sent()) === messages, `nothing marked sent while Twilio answered 503 (${(await sent()) - messages} were)`);
    bench.record(`worker peak RSS, ${queued.toLocaleString('en')} queued, Twilio down`, [mebibytes(peak)], `over ${full ? 20 : 6} s of retries`);
  },
};
