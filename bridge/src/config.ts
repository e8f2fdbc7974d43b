// Configuration: read from the environment once, validated at start-up. A bad
// value stops the process with a message that names the variable.

import path from 'node:path';
import { Failure } from './failure.js';

export interface Config {
  /** The database to use; absent means "start the embedded PostgreSQL". */
  databaseUrl: string | undefined;
  embeddedDatabase: { dataDir: string; port: number };
  logLevel: LogLevel;
  logFormat: 'json' | 'pretty';
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof logLevels)[number];

type Environment = Record<string, string | undefined>;

export function readConfig(env: Environment = process.env): Config {
  return {
    databaseUrl: optional(env, 'DATABASE_URL', parseDatabaseUrl),
    embeddedDatabase: {
      dataDir: path.resolve(optional(env, 'DATA_DIR', (value) => value) ?? '.data', 'postgres'),
      port: optional(env, 'EMBEDDED_PG_PORT', parsePort) ?? 54329,
    },
    logLevel: optional(env, 'LOG_LEVEL', oneOf(logLevels)) ?? 'info',
    logFormat: optional(env, 'LOG_FORMAT', oneOf(['json', 'pretty'] as const)) ??
      (process.stdout.isTTY ? 'pretty' : 'json'),
  };
}

function optional<T>(env: Environment, name: string, parse: (value: string) => T): T | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return parse(raw.trim());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Failure('CONFIG_INVALID', `${name} is invalid: ${reason}`);
  }
}

function parseDatabaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('expected a URL like postgres://user:password@host:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`expected a postgres:// or postgresql:// URL, got ${url.protocol}//`);
  }
  return value;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new Error(`expected a TCP port from 1 to 65535, got "${value}"`);
  }
  return port;
}

function oneOf<const T extends readonly string[]>(choices: T) {
  return (value: string): T[number] => {
    if (!choices.includes(value)) throw new Error(`expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T[number];
  };
}

/** A database URL that is safe to print: the password is masked. */
export function redactDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}
