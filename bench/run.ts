// `npm run bench [-- --full]`: how fast the engine is, next to what the
// database itself does on this machine, with a correctness check in every
// scenario. Targets only this machine; every load is bounded in count and
// time. Prints one table and writes bench/results/<timestamp>.json and .md.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { pino } from 'pino';
import WebSocket from 'ws';
import { migrate } from '../bridge/src/migrate.js';
import { projectRoot } from '../bridge/src/project-paths.js';
import { databaseUrlFor } from '../test/support/database-url.js';
import { startPostgresServer } from '../test/support/postgres-server.js';

const full = process.argv.includes('--full');
const seconds = full ? 10 : 3;
const silent = pino({ level: 'silent' });

interface Row { scenario: string; measure: string; value: string; note?: string }
const rows: Row[] = [];
const failures: string[] = [];
const record = (scenario: string, measure: string, value: string, note?: string) => {
  rows.push({ scenario, measure, value, ...(note ? { note } : {}) });
  process.stdout.write(`  ${scenario.padEnd(22)} ${measure.padEnd(34)} ${value}${note ? `  (${note})` : ''}\n`);
};
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
  return ok;
};

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (value: number) => `${value.toFixed(2)} ms`;

/** A fresh, migrated database on the same server the tests would use (DATABASE_URL, or an embedded one). */
async function database(): Promise<{ url: string; stop(): Promise<void> }> {
  const server = await startPostgresServer();
  const name = `referral_bench_${Date.now()}`;
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = databaseUrlFor(server.adminUrl, name);
  await migrate(url, silent);
  return {
    url,
    async stop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await server.stop();
    },
  };
}

/** Inserts single rows from `connections` connections for `seconds`; returns rows per second. */
async function insertRate(url: string, connections: number, insert: (sql: postgres.Sql) => Promise<unknown>): Promise<{ perSecond: number; count: number; latencies: number[] }> {
  const pools = Array.from({ length: connections }, () => postgres(url, { max: 1, onnotice: () => undefined }));
  await Promise.all(pools.map((sql) => sql`SELECT 1`));
  const until = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let count = 0;
  const started = performance.now();
  await Promise.all(pools.map(async (sql) => {
    while (performance.now() < until) {
      const t0 = performance.now();
      await insert(sql);
      latencies.push(performance.now() - t0);
      count += 1;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(pools.map((sql) => sql.end()));
  return { perSecond: count / elapsed, count, latencies };
}

async function startBridge(url: string, env: Record<string, string> = {}): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn('node', ['dist/bridge/src/main.js'], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', LOG_LEVEL: 'info', WHATSAPP_WORKER: 'false', LOG_EARNINGS: 'false', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /"port":(\d+)/.exec(buffer);
      if (match && buffer.includes('"msg":"ready')) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`the bridge exited with ${code}`)));
  });
  child.stdout!.resume();
  return {
    port,
    child,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

interface Subscriber { events: Array<{ seq: number; at: number }>; close(): void }

async function subscribe(port: number, userId: number): Promise<Subscriber> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?userId=${userId}`);
  const events: Subscriber['events'] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; seq?: number };
      if (frame.type === 'subscribed') resolve();
      if (frame.type === 'earning_update') events.push({ seq: frame.seq!, at: performance.now() });
    });
    socket.once('error', reject);
  });
  return { events, close: () => socket.close() };
}

interface CountingSubscriber { count(): number; inOrder(): boolean; close(): void }

/** A light subscriber for crowds: counts its events and checks their order. */
async function countingSubscriber(port: number, userId: number): Promise<CountingSubscriber> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?userId=${userId}`);
  let count = 0;
  let lastSeq = -1;
  let ordered = true;
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; seq?: number; lastSeq?: number };
      if (frame.type === 'subscribed') {
        lastSeq = frame.lastSeq!;
        resolve();
      } else if (frame.type === 'earning_update') {
        ordered &&= frame.seq === lastSeq + 1;
        lastSeq = frame.seq!;
        count += 1;
      }
    });
    socket.once('error', reject);
  });
  return { count: () => count, inOrder: () => ordered, close: () => socket.close() };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return true;
}

/** Purchases by other users at a steady rate from 4 connections, until stopped; resolves with the rate achieved. */
function startBackgroundLoad(url: string, perSecond: number, buyerOf: (i: number) => number): { stop(): Promise<number> } {
  const pools = Array.from({ length: 4 }, () => postgres(url, { max: 1, onnotice: () => undefined }));
  let running = true;
  let count = 0;
  const started = performance.now();
  const loops = pools.map(async (sql, lane) => {
    const interval = (1000 * pools.length) / perSecond;
    let next = performance.now();
    while (running) {
      await sql`INSERT INTO purchases (user_id, amount) VALUES (${buyerOf(count * 4 + lane)}, 1)`;
      count += 1;
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(pools.map((sql) => sql.end()));
      return count / ((performance.now() - started) / 1000);
    },
  };
}

/** A stand-in for Twilio's Messages API on this machine: accepts every message, or (down) drops every connection. */
async function fakeTwilio(): Promise<{ url: string; requests: () => number; setDown(down: boolean): void; close(): Promise<void> }> {
  let requests = 0;
  let down = false;
  let sid = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (down) {
        req.socket.destroy();
        return;
      }
      requests += 1;
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sid: `SM${String(++sid).padStart(32, '0')}`, status: 'queued' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests: () => requests,
    setDown: (value) => (down = value),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function whatsappDrain(url: string, sql: postgres.Sql, roots: number[], referrers: number[], buyers: number[]): Promise<void> {
  await sql`UPDATE users SET phone_number = '+49151' || lpad(id::text, 7, '0') WHERE id = ANY(${[...roots, ...referrers]}::int[])`;
  const twilio = await fakeTwilio();
  const mps = full ? 200 : 500;
  const messages = full ? 10_000 : 2_000;
  const worker = (extra: Record<string, string>) => spawn('node', ['dist/bridge/src/worker-command.js'], {
    cwd: projectRoot,
    env: {
      ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', LOG_FORMAT: 'json',
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'bench-token', TWILIO_WHATSAPP_FROM: 'whatsapp:+14155238886',
      TWILIO_API_BASE_URL: twilio.url, TWILIO_MAX_MPS: String(mps), WHATSAPP_CONCURRENCY: '20', ...extra,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = (child: ChildProcess) => new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  try {
    await sql`INSERT INTO purchases (user_id, amount) SELECT buyer, 1 FROM unnest(${buyers}::int[]) AS buyer, generate_series(1, ${messages / 2 / buyers.length})`;
    const started = performance.now();
    const sender = worker({});
    const sent = async () => (await sql<{ count: number }[]>`SELECT count(*)::int FROM whatsapp_outbox WHERE status = 'sent'`)[0]!.count;
    let done = false;
    while (!done && performance.now() - started < 120_000) {
      done = (await sent()) >= messages;
      if (!done) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    await stop(sender);
    check(done && twilio.requests() === messages, `7: ${messages} messages sent once each`);
    record('7 WhatsApp drain', `${messages} queued, TWILIO_MAX_MPS ${mps}`, `${(messages / seconds).toFixed(0)} messages/s`, `${((messages / seconds / mps) * 100).toFixed(0)}% of the limit, including start-up`);

    // 100,000 queued while Twilio is down: the worker's memory.
    twilio.setDown(true);
    await sql`INSERT INTO purchases (user_id, amount) SELECT buyer, 1 FROM unnest(${buyers}::int[]) AS buyer, generate_series(1, 50)`;
    const [queued] = await sql<{ count: number }[]>`SELECT count(*)::int FROM whatsapp_outbox WHERE status IN ('queued', 'sending')`;
    const retrier = worker({ WHATSAPP_RETRY_BASE_MS: '200', TWILIO_MAX_MPS: '5000', WHATSAPP_CONCURRENCY: '50' });
    await new Promise((resolve) => setTimeout(resolve, full ? 20_000 : 6_000));
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${retrier.pid}/status`, 'utf8'))![1]) / 1024;
    await stop(retrier);
    record('7 WhatsApp drain', `worker RSS, ${queued!.count.toLocaleString('en')} queued, Twilio down`, `${rss.toFixed(0)} MiB`);
  } finally {
    await twilio.close();
  }
}

async function main(): Promise<void> {
  process.stdout.write(`npm run bench${full ? ' --full' : ''}: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${seconds} s per load\n`);
  const db = await database();
  const sql = postgres(db.url, { max: 4, onnotice: () => undefined });
  try {
    // root ← hot ← 1,000 buyers: every purchase credits hot (level 1) and root (level 2).
    const [root] = await sql<{ id: number }[]>`INSERT INTO users (name) VALUES ('root') RETURNING id`;
    const [hot] = await sql<{ id: number }[]>`INSERT INTO users (name, referred_by) VALUES ('hot', ${root!.id}) RETURNING id`;
    const buyers = (await sql<{ id: number }[]>`
      INSERT INTO users (referred_by) SELECT ${hot!.id}::int FROM generate_series(1, 1000) RETURNING id`).map((row) => row.id);
    // 1,000 separate chains root ← referrer ← buyer: the same two earnings per
    // purchase, without a referrer shared by every purchase.
    const coldRoots = (await sql<{ id: number }[]>`INSERT INTO users (name) SELECT 'cold root' FROM generate_series(1, 1000) RETURNING id`).map((row) => row.id);
    const coldReferrers = (await sql<{ id: number }[]>`
      INSERT INTO users (referred_by) SELECT unnest(${coldRoots}::int[]) RETURNING id`).map((row) => row.id);
    const coldBuyers = (await sql<{ id: number }[]>`
      INSERT INTO users (referred_by) SELECT unnest(${coldReferrers}::int[]) RETURNING id`).map((row) => row.id);
    await sql`CREATE TABLE bench_plain_purchases (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id integer NOT NULL, amount numeric NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), idempotency_key text UNIQUE)`;
    const buyer = (i: number) => buyers[i % buyers.length]!;
    const coldBuyer = (i: number) => coldBuyers[i % coldBuyers.length]!;

    process.stdout.write('\n1. SQL ceiling: single-row INSERTs per second, buyers spread over 1,000 referral chains\n');
    const ceiling = new Map<number, number>();
    let n = 0;
    for (const connections of [1, 4, 10, 16, 50]) {
      const plain = await insertRate(db.url, connections, (c) => c`INSERT INTO bench_plain_purchases (user_id, amount) VALUES (${coldBuyer(n++)}, 1)`);
      const real = await insertRate(db.url, connections, (c) => c`INSERT INTO purchases (user_id, amount) VALUES (${coldBuyer(n++)}, 1)`);
      ceiling.set(connections, real.perSecond);
      record('1 SQL ceiling', `${connections} conn: plain table (a)`, `${plain.perSecond.toFixed(0)}/s`);
      record('1 SQL ceiling', `${connections} conn: purchases + trigger (b)`, `${real.perSecond.toFixed(0)}/s`, `b/a ${(real.perSecond / plain.perSecond).toFixed(2)}`);
    }
    const [ledger] = await sql<{ purchases: number; earnings: number; hotSeqOk: boolean }[]>`
      SELECT (SELECT count(*)::int FROM purchases) AS purchases, (SELECT count(*)::int FROM earnings) AS earnings,
             (SELECT bool_and(ok) FROM (SELECT count(*) = max(seq) AND count(DISTINCT seq) = count(*) AS ok FROM earnings GROUP BY user_id) per_user) AS "hotSeqOk"`;
    check(ledger!.earnings === 2 * ledger!.purchases && ledger!.hotSeqOk, '1: every purchase credited exactly twice, every seq gap-free');

    process.stdout.write('\n2. HTTP purchases (autocannon, POST /api/purchase)\n');
    const httpRate = new Map<string, number>();
    for (const batching of [false, true]) {
      const httpBridge = await startBridge(db.url, { PURCHASE_BATCHING: String(batching) });
      const mode = batching ? 'grouped' : 'one tx each';
      try {
        for (const connections of [1, 10, 50]) {
        const [before] = await sql<{ count: number }[]>`SELECT count(*)::int FROM purchases`;
        let k = 0;
        const result = await autocannon({
          url: `http://127.0.0.1:${httpBridge.port}/api/purchase`, connections, duration: seconds,
          requests: [{
            method: 'POST', headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: JSON.stringify({ userId: coldBuyer(k++), amount: '1.00' }) }),
          }],
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        const [after] = await sql<{ count: number }[]>`SELECT count(*)::int FROM purchases`;
        // Requests still in flight when the run ends are inserted but not counted as answered.
        const inserted = after!.count - before!.count;
        const ok = check(result.non2xx === 0 && inserted >= result['2xx'] && inserted - result['2xx'] <= connections, `2: ${connections} conn: every answered request is one purchase`);
        const ratio = result.requests.average / (ceiling.get(connections) ?? NaN);
        httpRate.set(`${mode}/${connections}`, result.requests.average);
        record('2 HTTP purchases', `${mode}, ${connections} conn: req/s, p50, p99`, `${result.requests.average.toFixed(0)}/s, ${result.latency.p50} ms, ${result.latency.p99} ms`,
          `${(ratio * 100).toFixed(0)}% of 1(b)${ok ? '' : '; CHECK FAILED'}`);
      }

      } finally {
        await httpBridge.stop();
      }
    }
    for (const connections of [10, 50]) {
      record('2 HTTP purchases', `grouping's gain at ${connections} conn`, `${((httpRate.get(`grouped/${connections}`)! / httpRate.get(`one tx each/${connections}`)!) * 100 - 100).toFixed(0)}%`);
    }

    const bridge = await startBridge(db.url);
    try {
      const maxRate = Math.max(...ceiling.values());
      const watcher = await subscribe(bridge.port, hot!.id);
      for (const load of ['idle', '50% load'] as const) {
        process.stdout.write(`\n3. Commit to socket, ${load === 'idle' ? 'idle (one purchase at a time)' : `under 50% load (${(maxRate / 2).toFixed(0)} purchases/s of other users)`}\n`);
        const background = load === 'idle' ? undefined : startBackgroundLoad(db.url, maxRate / 2, coldBuyer);
        for (const path of ['SQL', 'HTTP'] as const) {
          const latencies: number[] = [];
          for (let i = 0; i < (full ? 1000 : 200); i++) {
            const expected = watcher.events.length + 1;
            if (path === 'SQL') await sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer(i)}, 1)`;
            else {
              await fetch(`http://127.0.0.1:${bridge.port}/api/purchase`, {
                method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: buyer(i), amount: 1 }),
              });
            }
            const committed = performance.now();
            if (!check(await until(() => watcher.events.length >= expected, 5000), `3: ${path} event ${i} delivered`)) break;
            latencies.push(watcher.events[expected - 1]!.at - committed);
          }
          record(`3 commit to socket`, `${load}, ${path}: p50, p99, max`, `${ms(percentile(latencies, 50))}, ${ms(percentile(latencies, 99))}, ${ms(Math.max(...latencies))}`, 'from the commit\'s acknowledgement');
        }
        const achieved = await background?.stop();
        if (achieved !== undefined) record('3 commit to socket', '50% load: background purchases/s achieved', `${achieved.toFixed(0)}/s`);
      }
      const seqs = watcher.events.map((event) => event.seq);
      check(seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1), '3: every event once, in order');
      watcher.close();

      process.stdout.write('\n4. Many subscribers: 10,000 WebSocket connections\n');
      const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
      const rssBefore = rssOf(bridge.child.pid!);
      const connectStart = performance.now();
      const crowd: CountingSubscriber[] = [];
      // 9,000 sockets over the 1,000 separate referrers, 1,000 on the hot one.
      for (let batch = 0; batch < 20; batch++) {
        crowd.push(...await Promise.all(Array.from({ length: 500 }, (_, index) => {
          const k = batch * 500 + index;
          return countingSubscriber(bridge.port, k < 9000 ? coldReferrers[k % coldReferrers.length]! : hot!.id);
        })));
      }
      const connectSeconds = (performance.now() - connectStart) / 1000;
      const rssWithCrowd = rssOf(bridge.child.pid!);
      record('4 many subscribers', '10,000 sockets: time to subscribe', `${connectSeconds.toFixed(2)} s`);
      record('4 many subscribers', 'bridge RSS, before → with 10,000', `${rssBefore.toFixed(0)} → ${rssWithCrowd.toFixed(0)} MiB`, 'target ≤ 150 MB');
      const hotCrowd = crowd.slice(9000);
      const perSocket = 200;
      const deliveryStart = performance.now();
      await sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer(0)}::int, 1 FROM generate_series(1, ${perSocket})`;
      const allDelivered = await until(() => hotCrowd.every((subscriber) => subscriber.count() >= perSocket), 60_000);
      const deliverySeconds = (performance.now() - deliveryStart) / 1000;
      check(allDelivered && hotCrowd.every((subscriber) => subscriber.count() === perSocket && subscriber.inOrder()), '4: every one of the 1,000 hot sockets got each event once, in order');
      record('4 many subscribers', 'hot referrer on 1,000 sockets: deliveries/s', `${((perSocket * hotCrowd.length) / deliverySeconds).toFixed(0)}/s`, `${perSocket} events to each socket in ${deliverySeconds.toFixed(2)} s`);
      for (const subscriber of crowd) subscriber.close();
      await new Promise((resolve) => setTimeout(resolve, 500));

      process.stdout.write('\n5. Bulk: one INSERT … SELECT of 100,000 purchases\n');
      const hotWatcher = await subscribe(bridge.port, hot!.id);
      const rootWatcher = await subscribe(bridge.port, root!.id);
      const bulk = 100_000;
      const t0 = performance.now();
      await sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer(0)}::int, 1 FROM generate_series(1, ${bulk})`;
      const committed = performance.now();
      const delivered = await until(() => hotWatcher.events.length >= bulk && rootWatcher.events.length >= bulk, 120_000);
      const done = performance.now();
      check(delivered && hotWatcher.events.length === bulk && rootWatcher.events.length === bulk, '5: 200,000 events delivered exactly once');
      record('5 bulk 100,000', 'statement (commit)', ms(committed - t0));
      record('5 bulk 100,000', 'until every event reached its subscriber', `${((done - t0) / 1000).toFixed(2)} s`, `${(2 * bulk / ((done - t0) / 1000)).toFixed(0)} events/s`);
      hotWatcher.close();
      rootWatcher.close();
    } finally {
      await bridge.stop();
    }

    process.stdout.write('\n6. Hot referrer: 1,000 referees of one user, 50 connections\n');
    let i = 0;
    const hotRun = await insertRate(db.url, 50, (c) => c`INSERT INTO purchases (user_id, amount) VALUES (${buyer(i++)}, 1)`);
    let j = 0;
    const coldRun = await insertRate(db.url, 50, (c) => c`INSERT INTO purchases (user_id, amount) VALUES (${coldBuyers[j++ % coldBuyers.length]!}, 1)`);
    record('6 hot referrer', 'one shared referrer: /s, p99', `${hotRun.perSecond.toFixed(0)}/s, ${ms(percentile(hotRun.latencies, 99))}`);
    record('6 hot referrer', '1,000 separate referrers: /s, p99', `${coldRun.perSecond.toFixed(0)}/s, ${ms(percentile(coldRun.latencies, 99))}`, `hot/separate ${(hotRun.perSecond / coldRun.perSecond).toFixed(2)}`);
    const [hotSeq] = await sql<{ ok: boolean }[]>`
      SELECT count(*) = max(seq) AND count(DISTINCT seq) = count(*) AS ok FROM earnings WHERE user_id = ${hot!.id}`;
    check(hotSeq!.ok, '6: the hot referrer\'s seq is gap-free');

    process.stdout.write('\n7. WhatsApp: outbox drain against a local fake Twilio\n');
    await whatsappDrain(db.url, sql, coldRoots, coldReferrers, coldBuyers);
  } finally {
    await sql.end();
    await db.stop();
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(projectRoot, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  await writeFile(path.join(resultsDir, `${stamp}.json`), `${JSON.stringify({ at: new Date().toISOString(), full, seconds, machine, rows, failures }, null, 2)}\n`);
  const markdown = [
    `Measured ${new Date().toISOString()} on ${machine}; ${seconds} s per load${full ? ' (--full)' : ''}.`, '',
    '| scenario | measure | value | note |', '|---|---|---|---|',
    ...rows.map((row) => `| ${row.scenario} | ${row.measure} | ${row.value} | ${row.note ?? ''} |`), '',
    failures.length ? `Correctness checks FAILED: ${failures.join('; ')}` : 'Every correctness check passed.', '',
  ].join('\n');
  await writeFile(path.join(resultsDir, `${stamp}.md`), markdown);
  process.stdout.write(`\nwrote bench/results/${stamp}.json and .md\n`);
  if (failures.length) {
    process.stdout.write(`CORRECTNESS CHECKS FAILED: ${failures.join('; ')}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('every correctness check passed\n');
  }
}

await main();
