// Runs the chosen scenarios in order: those that measure the bridge once per
// transport that loads here, each time against bridge processes started with
// TRANSPORT set. Whatever a scenario opens through `defer` or `startBridge`
// is closed when it ends, and a scenario that throws fails the run without
// stopping the scenarios after it.

import type { TransportName } from '../bridge/src/transport/transport.js';
import { startBridgeProcess, type BridgeProcess } from '../test/support/bridge.js';
import { subscribeToStream, type StreamOptions, type StreamSubscriber } from '../test/support/event-stream.js';
import type { RunningCommand } from '../test/support/process.js';
import type { BenchDatabase, Fixture } from './database.js';
import { addRow, type Figure, type Report } from './report.js';

interface About {
  /** Short: it names the scenario's rows (its file's opening comment says what it measures). */
  title: string;
}

export type ScenarioDefinition =
  /** Measures PostgreSQL or a process of its own: runs once. */
  | (About & { perTransport: false; run(bench: Bench): Promise<void> })
  /** Measures the bridge: runs once per transport, given a bridge process started with that TRANSPORT. */
  | (About & { perTransport: true; run(bench: Bench, bridge: BenchBridge): Promise<void> });

/** A scenario with its id: its place in scenarios/index.ts. */
export type Scenario = ScenarioDefinition & { id: number };

export interface BenchBridge extends BridgeProcess {
  pid: number;
  /** False once the process has exited (by itself, when the scenario is still running). */
  running(): boolean;
}

export interface Bench {
  full: boolean;
  /** How long each load runs. */
  seconds: number;
  db: BenchDatabase;
  fixture: Fixture;
  /** The SQL ceiling 1(b) by connections, once scenario 1 has measured it in this run. */
  ceiling: Map<number, number>;
  /** A bridge process on the bench database (no WhatsApp worker; this run's TRANSPORT), stopped when the scenario ends. */
  startBridge(env?: Record<string, string>): Promise<BenchBridge>;
  /** A subscriber of `userId`'s events on `bridge` (test/support/event-stream.ts), closed when the scenario ends. */
  subscribe(bridge: BenchBridge, userId: number, options?: StreamOptions): Promise<StreamSubscriber>;
  /** Runs `close` when the scenario ends, last deferred first. */
  defer(close: () => unknown): void;
  record(measure: string, figures: Figure[], note?: string): void;
  /** Records `what` as failed unless `ok`; returns `ok`. */
  check(ok: boolean, what: string): boolean;
}

export interface RunSettings {
  full: boolean;
  seconds: number;
  db: BenchDatabase;
  fixture: Fixture;
  transports: TransportName[];
  report: Report;
}

export async function runScenarios(scenarios: Scenario[], settings: RunSettings): Promise<void> {
  const ceiling = new Map<number, number>();
  for (const scenario of scenarios) {
    for (const transport of scenario.perTransport ? settings.transports : [undefined]) {
      process.stdout.write(`\n${scenario.id}. ${scenario.title}${transport ? ` (TRANSPORT=${transport})` : ''}\n`);
      await runOnce(scenario, transport, settings, ceiling);
    }
  }
}

async function runOnce(scenario: Scenario, transport: TransportName | undefined, settings: RunSettings, ceiling: Map<number, number>): Promise<void> {
  const { report } = settings;
  const label = `${scenario.id}${transport ? ` (${transport})` : ''}`;
  const closers: Array<() => unknown> = [];
  const fail = (what: string) => {
    report.failures.push(`${label}: ${what}`);
    process.stdout.write(`  CHECK FAILED: ${what}\n`);
  };
  const bench: Bench = {
    full: settings.full,
    seconds: settings.seconds,
    db: settings.db,
    fixture: settings.fixture,
    ceiling,
    async startBridge(env = {}) {
      const bridge = await startBridgeProcess(settings.db.url, {
        WHATSAPP_WORKER: 'false', LOG_EARNINGS: 'false', ...(transport ? { TRANSPORT: transport } : {}), ...env,
      });
      const { child, exited, stderr } = bridge.command;
      const running = () => child.exitCode === null && child.signalCode === null;
      let stopping = false;
      void exited.then((code) => {
        if (!stopping) fail(`the bridge process exited by itself (${code ?? child.signalCode}): ${lastWords(stderr())}`);
      });
      closers.push(() => {
        stopping = true;
        return endCommand(bridge.command);
      });
      if (child.pid === undefined) throw new Error('the bridge process has no pid');
      return { ...bridge, pid: child.pid, running };
    },
    async subscribe(bridge, userId, options) {
      const subscriber = await subscribeToStream(bridge.ws, userId, options);
      closers.push(() => subscriber.close());
      return subscriber;
    },
    defer: (close) => closers.push(close),
    record: (measure, figures, note = '') =>
      addRow(report, { scenario: `${scenario.id} ${scenario.title}`, transport: transport ?? '', measure, figures, note }),
    check(ok, what) {
      if (!ok) fail(what);
      return ok;
    },
  };
  try {
    if (scenario.perTransport) await scenario.run(bench, await bench.startBridge());
    else await scenario.run(bench);
  } catch (error) {
    fail(`threw ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        fail(`closing what it opened threw ${String(error)}`);
      }
    }
  }
}

/** Ends a process started with runCommand, as a service manager would (SIGTERM), unless it has ended already. */
export async function endCommand(command: RunningCommand): Promise<void> {
  const { child } = command;
  if (child.exitCode === null && child.signalCode === null) command.interrupt('SIGTERM');
  await command.exited;
}

/** What a crashed process said about it: its fatal error's line (a V8 abort prints a stack after it), else its last lines. */
function lastWords(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.find((line) => /FATAL ERROR|^\w*Error\b/.test(line)) ?? lines.slice(-3).join(' / ');
}
