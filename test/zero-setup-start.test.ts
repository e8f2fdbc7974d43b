// `npm start` on a machine with nothing set up: an embedded PostgreSQL, the
// schema, the demo tree, a psql command to paste, and a live line per
// earning; Ctrl-C stops it all and a second start reuses the data. Start-up
// failures end with one clear line. Each test starts (and stops) its own
// processes, in a data folder of its own.

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { openAdminPool, openPool } from './support/database.js';
import { databaseUrlFor } from './support/database-url.js';
import { freePort } from './support/postgres-server.js';
import { cleanEnvironment, runCommand, type RunningCommand } from './support/process.js';
import { onlyRow } from './support/rows.js';

const dataDirs: string[] = [];
afterAll(async () => {
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** An empty data folder and a free port for the embedded PostgreSQL, as a first start finds them. */
async function freshMachine() {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'referral-start-'));
  dataDirs.push(dataDir);
  await chmod(dataDir, 0o755);
  const port = await freePort();
  return {
    dataDir,
    port,
    env: cleanEnvironment({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port) }),
    psqlUrl: `postgres://postgres:postgres@127.0.0.1:${port}/referrals`,
  };
}

async function untilReady(running: RunningCommand, timeoutMs?: number) {
  return running.waitForLog('the ready line', (line) => line.msg.startsWith('ready'), timeoutMs);
}

/** Sends SIGTERM and resolves with the exit code. */
async function stop(running: RunningCommand): Promise<number | null> {
  running.interrupt('SIGTERM');
  return running.exited;
}

describe('npm start with no DATABASE_URL', () => {
  test('starts an embedded database with the demo tree, prints a psql command, and logs each earning live', async () => {
    const machine = await freshMachine();
    const running = runCommand('npm', ['start', '--silent'], machine.env);
    const ready = await untilReady(running, 90_000);
    const psqlUrl = /psql '([^']+)'/.exec(ready.msg)?.[1];
    expect(psqlUrl).toBe(machine.psqlUrl);

    const sql = openPool(machine.psqlUrl, { max: 1 });
    try {
      expect(await sql`SELECT id, name, referred_by AS "referredBy" FROM users ORDER BY id`).toEqual([
        { id: 1, name: 'Asha', referredBy: null },
        { id: 2, name: 'Bilal', referredBy: 1 },
        { id: 3, name: 'Chen', referredBy: 2 },
        { id: 4, name: 'Dana', referredBy: 2 },
        { id: 5, name: 'Elif', referredBy: 1 },
      ]);
      await sql`INSERT INTO purchases (user_id, amount) VALUES (4, 1999.99)`;
    } finally {
      await sql.end();
    }
    const level1 = await running.waitForLog('user 2\'s earning', (line) => line.msg.startsWith('earning: user 2 earned 99.9995'));
    const level2 = await running.waitForLog('user 1\'s earning', (line) => line.msg.startsWith('earning: user 1 earned 19.9999'));
    expect(level1.msg).toBe('earning: user 2 earned 99.9995 (level 1, rate 0.05) from purchase 1 of 1999.99 by user 4 [seq 1]');
    expect(level2.event).toMatchObject({ type: 'earning_update', userId: 1, level: 2, amount: '19.9999', purchaseAmount: '1999.99' });
    await stop(running);
  });

  test('Ctrl-C stops the bridge and the database cleanly', async () => {
    const machine = await freshMachine();
    const running = runCommand('npm', ['start', '--silent'], machine.env);
    await untilReady(running, 90_000);
    running.interrupt('SIGINT');
    // npm re-raises the signal its script got; what matters is that the
    // bridge finished its shutdown and the database stopped with it.
    await running.outputClosed;
    await running.exited;
    expect(running.logLines().at(-1)?.msg, running.stdout()).toBe('stopped');
    expect(running.stderr()).toBe('');
    expect(await portIsFree(machine.port)).toBe(true);
  });

  test('a second start reuses the data: no second demo tree, earnings kept', async () => {
    const machine = await freshMachine();
    const first = runCommand('node', ['dist/bridge/src/main.js'], machine.env);
    await untilReady(first, 90_000);
    const firstSql = openPool(machine.psqlUrl, { max: 1 });
    try {
      await firstSql`INSERT INTO purchases (user_id, amount) VALUES (4, 1999.99)`;
    } finally {
      await firstSql.end();
    }
    expect(await stop(first)).toBe(0);

    const second = runCommand('node', ['dist/bridge/src/main.js'], machine.env);
    await untilReady(second);
    expect(second.logLines().some((line) => line.msg.includes('demo'))).toBe(false);
    const sql = openPool(machine.psqlUrl, { max: 1 });
    try {
      const counts = onlyRow(await sql<{ users: number; earnings: number }[]>`
        SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM earnings) AS earnings`);
      expect(counts).toEqual({ users: 5, earnings: 2 });
    } finally {
      await sql.end();
    }
    expect(await stop(second)).toBe(0);
  });
});

describe('start-up failures end with one clear message', () => {
  async function failedStart(extra: Record<string, string>) {
    const { dataDir } = await freshMachine();
    const command = runCommand('node', ['dist/bridge/src/main.js'], cleanEnvironment({ DATA_DIR: dataDir, ...extra }));
    const code = await command.exited;
    return { code, stderr: command.stderr().trim() };
  }

  test('the embedded database\'s port is taken', async () => {
    const blocker = net.createServer();
    const takenPort = await freePort();
    await new Promise<void>((resolve) => blocker.listen(takenPort, '127.0.0.1', resolve));
    try {
      const { code, stderr } = await failedStart({ EMBEDDED_PG_PORT: String(takenPort) });
      expect(code).toBe(1);
      expect(stderr).toBe(
        `referral-earnings could not start [EMBEDDED_PORT_IN_USE]: port ${takenPort} on 127.0.0.1 is already in use, so the embedded PostgreSQL cannot listen on it: set EMBEDDED_PG_PORT to a free port, or set DATABASE_URL to use an existing database`,
      );
    } finally {
      blocker.close();
    }
  });

  test('the data folder holds a cluster still being created (or whose first start was interrupted)', async () => {
    const { dataDir } = await freshMachine();
    await mkdir(path.join(dataDir, 'postgres', 'base'), { recursive: true });
    const command = runCommand('node', ['dist/bridge/src/main.js'], cleanEnvironment({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) }));
    expect(await command.exited).toBe(1);
    const folder = path.join(dataDir, 'postgres');
    expect(command.stderr().trim()).toBe(
      `referral-earnings could not start [EMBEDDED_DATABASE_INCOMPLETE]: the embedded PostgreSQL in ${folder} is not fully created: another "npm start" may be creating it right now (wait for it, then start again), or an earlier first start was interrupted (then delete ${folder} and start again)`,
    );
  });

  test('DATABASE_URL points at nothing', async () => {
    const nowhere = await freePort();
    const { code, stderr } = await failedStart({ DATABASE_URL: `postgres://app:secret@127.0.0.1:${nowhere}/shop` });
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^referral-earnings could not start \\[DATABASE_UNREACHABLE\\]: cannot connect to the database at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${nowhere}/shop: .+$`));
    expect(stderr).not.toContain('secret');
  });

  test('a migration fails', async () => {
    const admin = openAdminPool();
    const name = `referral_conflict_${randomBytes(6).toString('hex')}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
    try {
      const other = openPool(url, { max: 1 });
      await other`CREATE TABLE users (something_else int)`;
      await other.end();
      const { code, stderr } = await failedStart({ DATABASE_URL: url });
      expect(code).toBe(1);
      expect(stderr).toMatch(/^referral-earnings could not start \[MIGRATION_FAILED\]: migrating the database failed: .*relation "users" already exists$/);
    } finally {
      await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  test('a configuration variable is invalid', async () => {
    const { code, stderr } = await failedStart({ EMBEDDED_PG_PORT: 'five' });
    expect(code).toBe(1);
    expect(stderr).toBe('referral-earnings could not start [CONFIG_INVALID]: EMBEDDED_PG_PORT is invalid: expected a TCP port from 1 to 65535, got "five"');
  });
});

async function portIsFree(candidate: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(candidate, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
