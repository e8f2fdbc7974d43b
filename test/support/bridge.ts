// A real bridge for tests: in this process on an ephemeral port (fast, and
// its parts can be inspected), or as its own process like `npm start`.

import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/src/bridge.js';
import { readConfig } from '../../bridge/src/config.js';
import { connectDatabase } from '../../bridge/src/db.js';
import type { Metrics } from '../../bridge/src/metrics.js';
import type { Server } from '../../bridge/src/server.js';
import { track } from './leaks.js';
import { cleanEnvironment, runCommand, type RunningCommand } from './process.js';

export interface TestBridge {
  http: string;
  ws: string;
  server: Server;
  metrics: Metrics;
  stop(): Promise<void>;
}

/** Starts the bridge as main.ts does (without the WhatsApp worker), with the given environment variables. */
export async function startTestBridge(databaseUrl: string, env: Record<string, string> = {}): Promise<TestBridge> {
  const config = readConfig({
    DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_EARNINGS: 'false', WHATSAPP_WORKER: 'false',
    // The run's transport (CI runs the suite once per transport).
    TRANSPORT: process.env.TRANSPORT, UWS_PATH: process.env.UWS_PATH,
    ...env,
  });
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const sql = connectDatabase(databaseUrl, log);
  const bridge: Bridge = await startBridge({
    config, sql, log, pingEveryMs: 500, connectListener: () => connectDatabase(databaseUrl, log, { max: 1 }),
  });
  const http = `http://127.0.0.1:${bridge.server.port}`;
  let stopped = false;
  const stop = async () => {
    stopped = true;
    await bridge.stop();
    await sql.end({ timeout: 5 });
  };
  track(`a bridge at ${http}`, () => !stopped, stop);
  return { http, ws: `ws://127.0.0.1:${bridge.server.port}/ws`, server: bridge.server, metrics: bridge.metrics, stop };
}

/**
 * A bridge for this test file on its database, started before its tests and
 * stopped after them. Its fields are filled in by beforeAll: read them inside
 * tests and hooks.
 */
export function useTestBridge(db: { url: string }, env: Record<string, string> = {}): TestBridge {
  const handle = {} as TestBridge;
  beforeAll(async () => {
    Object.assign(handle, await startTestBridge(db.url, env));
  });
  afterAll(async () => {
    await handle.stop?.();
  });
  return handle;
}

export interface BridgeProcess {
  command: RunningCommand;
  http: string;
  ws: string;
}

/** Runs the built bridge (dist/) as its own process on DATABASE_URL and an ephemeral port. */
export async function startBridgeProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<BridgeProcess> {
  const command = runCommand('node', ['dist/bridge/src/main.js'], cleanEnvironment({ DATABASE_URL: databaseUrl, HOST: '127.0.0.1', ...env }));
  const listening = await command.waitForLog('the bridge to listen', (line) => typeof line.port === 'number' && line.msg.startsWith('bridge listening'));
  await command.waitForLog('the ready line', (line) => line.msg.startsWith('ready'));
  return { command, http: `http://127.0.0.1:${listening.port}`, ws: `ws://127.0.0.1:${listening.port}/ws` };
}
