// Configuration: read from the environment once, validated at start-up. A bad
// value stops the process with a message that names the variable.

import path from 'node:path';
import { Failure } from './failure.js';

export interface Config {
  /** The database to use; absent means "start the embedded PostgreSQL". */
  databaseUrl: string | undefined;
  embeddedDatabase: { dataDir: string; port: number };
  http: { host: string; port: number };
  auth: { jwtSecret: Uint8Array | undefined; apiKey: string | undefined };
  production: boolean;
  /** Log a line for every earning (on by default with the embedded database). */
  logEarnings: boolean;
  /** Per-socket bytes waiting to be sent before a slow consumer is closed. */
  wsMaxBackpressureBytes: number;
  logLevel: LogLevel;
  logFormat: 'json' | 'pretty';
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof logLevels)[number];

type Environment = Record<string, string | undefined>;

export function readConfig(env: Environment = process.env): Config {
  const databaseUrl = optional(env, 'DATABASE_URL', parseDatabaseUrl);
  const production = env.NODE_ENV === 'production';
  const auth = {
    jwtSecret: optional(env, 'JWT_SECRET', parseJwtSecret),
    apiKey: optional(env, 'API_KEY', parseApiKey),
  };
  if (production && (!auth.jwtSecret || !auth.apiKey)) {
    const missing = [auth.jwtSecret ? undefined : 'JWT_SECRET', auth.apiKey ? undefined : 'API_KEY'].filter(Boolean);
    throw new Failure(
      'CONFIG_INSECURE',
      `NODE_ENV=production requires ${missing.join(' and ')}: without ${missing.length > 1 ? 'them' : 'it'} anyone could ` +
        'read every user\'s earnings or record purchases. Set them (JWT_SECRET: at least 32 characters; API_KEY: at least 16), ' +
        'or unset NODE_ENV to run open for development.',
    );
  }
  return {
    databaseUrl,
    embeddedDatabase: {
      dataDir: path.resolve(optional(env, 'DATA_DIR', (value) => value) ?? '.data', 'postgres'),
      port: optional(env, 'EMBEDDED_PG_PORT', parsePort) ?? 54329,
    },
    http: {
      host: optional(env, 'HOST', (value) => value) ?? '0.0.0.0',
      port: optional(env, 'PORT', parsePortOrZero) ?? 3000,
    },
    auth,
    production,
    logEarnings: optional(env, 'LOG_EARNINGS', parseBoolean) ?? databaseUrl === undefined,
    wsMaxBackpressureBytes: optional(env, 'WS_MAX_BACKPRESSURE_BYTES', parsePositiveInteger) ?? 1024 * 1024,
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

/** PORT may be 0: the system picks a free port (tests, several bridges on one machine). */
function parsePortOrZero(value: string): number {
  return value === '0' ? 0 : parsePort(value);
}

function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || !Number.isSafeInteger(number)) {
    throw new Error(`expected a positive whole number, got "${value}"`);
  }
  return number;
}

function parseBoolean(value: string): boolean {
  if (['true', '1', 'yes', 'on'].includes(value.toLowerCase())) return true;
  if (['false', '0', 'no', 'off'].includes(value.toLowerCase())) return false;
  throw new Error(`expected true or false, got "${value}"`);
}

function parseJwtSecret(value: string): Uint8Array {
  // HS256 keys shorter than the hash output are weak (RFC 7518, section 3.2).
  if (value.length < 32) throw new Error('must be at least 32 characters long');
  return new TextEncoder().encode(value);
}

function parseApiKey(value: string): string {
  if (value.length < 16) throw new Error('must be at least 16 characters long');
  return value;
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
