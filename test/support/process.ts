// Runs the product's own commands as a user would, and reads what they print.

import { spawn, type ChildProcess } from 'node:child_process';
import { projectRoot } from '../../bridge/src/project-paths.js';
import { track } from './leaks.js';
import { waitFor } from './wait.js';

export interface RunningCommand {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Pino's JSON log lines printed so far. */
  logLines(): Array<Record<string, unknown> & { msg: string }>;
  waitForLog(description: string, match: (line: { msg: string } & Record<string, unknown>) => boolean, timeoutMs?: number): Promise<{ msg: string } & Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves when every process that held its output has ended. */
  outputClosed: Promise<void>;
  /** Sends a signal to the whole process group, as Ctrl-C in a terminal does. */
  interrupt(signal?: NodeJS.Signals): void;
}

/**
 * The environment of a user who set none of our variables, but for the
 * run's transport (TRANSPORT, UWS_PATH), which CI sets for the whole suite.
 */
export function cleanEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'TEST_DATABASE_URL', 'DATA_DIR', 'EMBEDDED_PG_PORT', 'LOG_LEVEL', 'LOG_FORMAT', 'PORT', 'HOST', 'JWT_SECRET', 'API_KEY', 'NODE_ENV', 'LOG_EARNINGS', 'METRICS_TOKEN', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_WHATSAPP_FROM', 'TWILIO_CONTENT_SID', 'TWILIO_REVERSAL_CONTENT_SID', 'TWILIO_PAYOUT_CONTENT_SID', 'PUBLIC_BASE_URL']) delete env[name];
  return { ...env, LOG_FORMAT: 'json', PORT: '0', ...extra };
}

export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv): RunningCommand {
  const child = spawn(command, args, { cwd: projectRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const outputClosed = Promise.all([
    new Promise((resolve) => child.stdout.on('close', resolve)),
    new Promise((resolve) => child.stderr.on('close', resolve)),
  ]).then(() => undefined);
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  };
  track(`the process \`${[command, ...args].join(' ')}\``, running, async () => {
    signalGroup('SIGKILL');
    await exited;
  });
  const logLines = () =>
    stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown> & { msg: string });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    logLines,
    exited,
    outputClosed,
    waitForLog: (description, match, timeoutMs = 60_000) =>
      waitFor(description, () => {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before ${description}:\n${stdout}\n${stderr}`);
        return logLines().find(match);
      }, timeoutMs),
    interrupt: (signal = 'SIGINT') => signalGroup(signal),
  };
}
