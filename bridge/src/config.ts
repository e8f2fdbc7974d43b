// Configuration: read from the environment once, validated at start-up. A bad
// value stops the process with a message that names the variable.

import { isIP } from 'node:net';
import path from 'node:path';
import { Failure } from './failure.js';
import type { TransportName } from './transport/transport.js';

export interface Config {
  /** The database to use; absent means "start the embedded PostgreSQL". */
  databaseUrl: string | undefined;
  embeddedDatabase: { dataDir: string; port: number };
  http: { host: string; port: number };
  auth: { jwtSecret: Uint8Array | undefined; apiKey: string | undefined; metricsToken: string | undefined };
  /** TRANSPORT: force one; unset picks uws when a native build loads. */
  transport: TransportName | undefined;
  /** UWS_PATH: a folder holding an official uWebSockets.js build for this Node.js. */
  uwsPath: string | undefined;
  /** Log a line for every earning (on by default with the embedded database). */
  logEarnings: boolean;
  /** Group concurrent HTTP purchases into shared transactions. */
  purchaseBatching: boolean;
  /** Per-socket bytes waiting to be sent past which its subscriptions read from the database at its pace. */
  wsHighWaterBytes: number;
  /** A socket that drains nothing for this long is closed (4008). */
  wsStallTimeoutMs: number;
  whatsapp: WhatsAppConfig;
  logLevel: LogLevel;
  logFormat: 'json' | 'pretty';
}

export interface WhatsAppConfig {
  /** Run the outbox worker inside the bridge. */
  workerEnabled: boolean;
  /** Absent: log mode (each message is logged, masked, and marked skipped). */
  twilio: {
    accountSid: string;
    authToken: string;
    from: string;
    /** The Content template of earning messages; absent: a free-form body. */
    contentSid: string | undefined;
    /** The Content template of reversal messages; absent: a free-form body. */
    reversalContentSid: string | undefined;
    /** The Content template of paid-payout messages; absent: a free-form body. */
    payoutContentSid: string | undefined;
    apiBaseUrl: string | undefined;
  } | undefined;
  /** Where Twilio posts delivery status (PUBLIC_BASE_URL + /twilio/status). */
  statusCallbackUrl: string | undefined;
  maxMessagesPerSecond: number;
  concurrency: number;
  maxAttempts: number;
  requestTimeoutMs: number;
  /** The first retry waits about this long; each next one twice as long. */
  retryBaseMs: number;
  /** How long a claimed message is reserved for the worker that claimed it. */
  leaseMs: number;
  currencyLabel: string;
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type LogLevel = (typeof logLevels)[number];

type Environment = Record<string, string | undefined>;

export function readConfig(env: Environment = process.env): Config {
  const databaseUrl = optional(env, 'DATABASE_URL', parseDatabaseUrl);
  const production = env.NODE_ENV === 'production';
  const auth = {
    jwtSecret: optional(env, 'JWT_SECRET', parseJwtSecret),
    apiKey: optional(env, 'API_KEY', parseBearerSecret),
    metricsToken: optional(env, 'METRICS_TOKEN', parseBearerSecret),
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
      host: optional(env, 'HOST', parseHost) ?? '0.0.0.0',
      port: optional(env, 'PORT', parsePortOrZero) ?? 3000,
    },
    auth,
    transport: optional(env, 'TRANSPORT', oneOf(['uws', 'node'] as const)),
    uwsPath: optional(env, 'UWS_PATH', (value) => path.resolve(value)),
    logEarnings: optional(env, 'LOG_EARNINGS', parseBoolean) ?? databaseUrl === undefined,
    purchaseBatching: optional(env, 'PURCHASE_BATCHING', parseBoolean) ?? true,
    wsHighWaterBytes: optional(env, 'WS_HIGH_WATER_BYTES', parsePositiveInteger) ?? 256 * 1024,
    wsStallTimeoutMs: optional(env, 'WS_STALL_TIMEOUT_MS', parsePositiveInteger) ?? 30_000,
    whatsapp: readWhatsAppConfig(env),
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

function readWhatsAppConfig(env: Environment): WhatsAppConfig {
  const accountSid = optional(env, 'TWILIO_ACCOUNT_SID', (value) => matching(value, /^AC[0-9a-fA-F]{32}$/, 'an Account SID: AC and 32 hex digits'));
  const authToken = optional(env, 'TWILIO_AUTH_TOKEN', (value) => value);
  const from = optional(env, 'TWILIO_WHATSAPP_FROM', (value) => matching(value, /^whatsapp:\+[1-9][0-9]{7,14}$/, 'a WhatsApp sender like whatsapp:+14155238886'));
  const given = [accountSid, authToken, from].filter((value) => value !== undefined).length;
  if (given !== 0 && given !== 3) {
    throw new Failure('CONFIG_INVALID', 'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM go together: set all three to send WhatsApp messages, or none for log mode');
  }
  const publicBaseUrl = optional(env, 'PUBLIC_BASE_URL', (value) => httpUrl(value).replace(/\/+$/, ''));
  return {
    workerEnabled: optional(env, 'WHATSAPP_WORKER', parseBoolean) ?? true,
    twilio: accountSid && authToken && from
      ? {
          accountSid,
          authToken,
          from,
          contentSid: optional(env, 'TWILIO_CONTENT_SID', contentSid),
          reversalContentSid: optional(env, 'TWILIO_REVERSAL_CONTENT_SID', contentSid),
          payoutContentSid: optional(env, 'TWILIO_PAYOUT_CONTENT_SID', contentSid),
          apiBaseUrl: optional(env, 'TWILIO_API_BASE_URL', (value) => httpUrl(value).replace(/\/+$/, '')),
        }
      : undefined,
    statusCallbackUrl: publicBaseUrl ? `${publicBaseUrl}/twilio/status` : undefined,
    maxMessagesPerSecond: optional(env, 'TWILIO_MAX_MPS', parsePositiveInteger) ?? 50,
    concurrency: optional(env, 'WHATSAPP_CONCURRENCY', parsePositiveInteger) ?? 10,
    maxAttempts: optional(env, 'WHATSAPP_MAX_ATTEMPTS', parsePositiveInteger) ?? 8,
    requestTimeoutMs: optional(env, 'TWILIO_TIMEOUT_MS', parsePositiveInteger) ?? 10_000,
    retryBaseMs: optional(env, 'WHATSAPP_RETRY_BASE_MS', parsePositiveInteger) ?? 1000,
    leaseMs: optional(env, 'WHATSAPP_LEASE_MS', parsePositiveInteger) ?? 60_000,
    currencyLabel: optional(env, 'WHATSAPP_CURRENCY', (value) => value) ?? '',
  };
}

function contentSid(value: string): string {
  return matching(value, /^HX[0-9a-fA-F]{32}$/, 'a Content SID: HX and 32 hex digits');
}

function matching(value: string, pattern: RegExp, expected: string): string {
  if (!pattern.test(value)) throw new Error(`expected ${expected}`);
  return value;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('expected an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('expected an http:// or https:// URL');
  return value;
}

/**
 * HOST: an IP address (0.0.0.0 or :: for all of this machine's) or a host
 * name. Dotted digits are an IPv4 address or nothing: 999.1.1.1 is refused
 * here, rather than failing later as a port that cannot be listened on.
 */
function parseHost(value: string): string {
  if (isIP(value) !== 0) return value;
  const expected = 'an IP address such as 0.0.0.0 (all addresses), 127.0.0.1 or ::, or a host name such as localhost';
  if (/^[\d.]+$/.test(value)) throw new Error(`expected ${expected}; "${value}" is not an IPv4 address (four numbers from 0 to 255)`);
  const label = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
  if (value.length > 253 || !new RegExp(`^${label}(\\.${label})*$`, 'i').test(value)) throw new Error(`expected ${expected}, got "${value}"`);
  return value;
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

/** A shared secret sent as a bearer token (API_KEY, METRICS_TOKEN). */
function parseBearerSecret(value: string): string {
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
