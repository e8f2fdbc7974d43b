// The one place that reads values from the outside: ids, amounts, seqs,
// limits, idempotency keys and text, from paths, queries, JSON bodies and
// WebSocket messages alike (the payout operator's own values are read in
// payout-input.ts, with the same rules). Each refuses a bad value with a product error
// that says what a good one looks like; none rounds or guesses.

import { isLosslessNumber } from 'lossless-json';
import { ProductError, type ErrorCode, type InputSource } from './errors.js';

const maxUserId = 2_147_483_647; // the users.id column is an integer
const maxBigintId = 9_223_372_036_854_775_807n; // purchases.id and payouts.id are bigints
const maxIdempotencyKeyLength = 200;

/**
 * The digits of a whole number: a JSON number as written (LosslessNumber),
 * a JavaScript number, or a string (only where a string is how the value
 * travels: paths, queries, WebSocket URLs and messages).
 */
function wholeNumberText(value: unknown, stringsAccepted: boolean): string | undefined {
  const text = isLosslessNumber(value)
    ? value.value
    : typeof value === 'number' && Number.isSafeInteger(value)
      ? String(value)
      : stringsAccepted && typeof value === 'string'
        ? value
        : undefined;
  return text !== undefined && /^\d{1,16}$/.test(text) ? text : undefined;
}

export interface IdOptions {
  source: InputSource;
  /** The field's name in messages ("userId", "referredBy"). */
  name?: string;
  code?: ErrorCode;
}

/** A user id: a whole number from 1 to 2147483647. */
export function parseUserId(value: unknown, { source, name = 'userId', code = 'INVALID_USER_ID' }: IdOptions): number {
  const text = wholeNumberText(value, source !== 'body');
  const id = Number(text);
  if (text === undefined || id < 1 || id > maxUserId) {
    const where = source === 'path' ? `the ${name} in the path` : name;
    throw new ProductError(code, `${where} must be a positive integer (at most ${maxUserId})`, { source });
  }
  return id;
}

/**
 * A purchase id in a path: a whole number from 1 to 9223372036854775807
 * (purchases.id is a bigint), kept as its canonical digits, since ids past
 * 2^53 would not survive a JavaScript number.
 */
export function parsePurchaseId(value: unknown): string {
  return parseBigintId(value, 'INVALID_PURCHASE_ID', 'the purchaseId in the path', 'path');
}

/** A bigint id as its canonical digits: 1 to 9223372036854775807. */
export function parseBigintId(value: unknown, code: ErrorCode, what: string, source: InputSource): string {
  const id = typeof value === 'string' && /^\d{1,19}$/.test(value) ? BigInt(value) : undefined;
  if (id === undefined || id < 1n || id > maxBigintId) {
    throw new ProductError(code, `${what} must be a positive integer (at most ${maxBigintId})`, { source });
  }
  return id.toString();
}

/** A seq to continue after ("after"): a whole number from 0 (everything). */
export function parseAfter(value: unknown, { source, code = 'INVALID_AFTER' }: IdOptions): number {
  const text = wholeNumberText(value, true);
  const after = Number(text);
  if (text === undefined || !Number.isSafeInteger(after)) {
    throw new ProductError(code, 'after must be a whole number: the last seq you received (0 for everything)', { source });
  }
  return after;
}

/** The seq a summary stands at ("through"): a whole number from 0; null when absent (now). */
export function parseThrough(value: string | null): number | null {
  if (value === null || value === '') return null;
  const text = wholeNumberText(value, true);
  if (text === undefined || !Number.isSafeInteger(Number(text))) {
    throw new ProductError('INVALID_THROUGH', 'through must be a whole number: the seq whose totals you want (the totals after that event)', { source: 'query' });
  }
  return Number(text);
}

/** A page size from 1 to `max`; `fallback` when absent. */
export function parseLimit(value: string | null, max: number, fallback: number): number {
  if (value === null || value === '') return fallback;
  const text = wholeNumberText(value, true);
  const limit = Number(text);
  if (text === undefined || limit < 1 || limit > max) {
    throw new ProductError('INVALID_LIMIT', `limit must be a whole number from 1 to ${max}`, { source: 'query' });
  }
  return limit;
}

/** How many days back a daily series reaches ("days"), today (UTC) included: 1 to `max`; `fallback` when absent. */
export function parseDays(value: string | null, max: number, fallback: number): number {
  if (value === null || value === '') return fallback;
  const days = Number(wholeNumberText(value, true));
  if (!Number.isInteger(days) || days < 1 || days > max) {
    throw new ProductError('INVALID_DAYS', `days must be a whole number from 1 to ${max}`, { source: 'query' });
  }
  return days;
}

/**
 * An amount as decimal text for NUMERIC, exactly as sent: a JSON number's own
 * digits, or a string of one. Range and decimals are the database's to check
 * (it refuses, never rounds), so 1.0000000000000001 is refused, not made 1.00.
 */
export function parseAmount(value: unknown): string {
  const text = decimalText(value);
  if (text === undefined) {
    throw new ProductError('INVALID_AMOUNT', 'amount must be a decimal number (or a string of one) such as 1000 or "1999.99"', { source: 'body' });
  }
  return text;
}

/**
 * A decimal as written: a JSON number's own digits, or a string of one;
 * undefined if it is not one. A string is taken whole, so " 5 " is refused
 * rather than trimmed: what is recorded is what was sent.
 */
export function decimalText(value: unknown): string | undefined {
  const text = isLosslessNumber(value) ? value.value : typeof value === 'string' ? value : undefined;
  return text !== undefined && /^-?\d{1,15}(\.\d{1,20})?([eE][+-]?\d{1,2})?$/.test(text) ? text : undefined;
}

/**
 * A refund's amount: absent means "whatever is left of the purchase", which
 * the database works out (null here). An explicit null is refused rather than
 * read as "all of it": a refund in full must be asked for, not happen because
 * a client sent an unset variable.
 */
export function parseRefundAmount(body: Record<string, unknown>): string | null {
  return 'amount' in body ? parseAmount(body.amount) : null;
}

/**
 * An Idempotency-Key: 1 to 200 visible ASCII characters (what the IETF draft
 * and Stripe accept). Anything else is refused rather than trimmed or
 * re-encoded, since two different keys must never become the same one.
 */
export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]+$/.test(value) || value.length > maxIdempotencyKeyLength) {
    throw new ProductError('INVALID_IDEMPOTENCY_KEY',
      `Idempotency-Key must be 1 to ${maxIdempotencyKeyLength} visible ASCII characters (letters, digits, punctuation; no spaces)`, { source: 'header' });
  }
  return value;
}

/**
 * Optional text of at most maxLength characters (counted as PostgreSQL
 * counts them, by code point); null when absent. NUL, which PostgreSQL's text
 * cannot hold, is refused.
 */
export function parseOptionalText(value: unknown, code: ErrorCode, name: string, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || [...value].length > maxLength) {
    throw new ProductError(code, `${name} must be a string of at most ${maxLength} characters`, { source: 'body' });
  }
  if (value.includes('\u0000')) throw new ProductError(code, `${name} must not contain NUL characters`, { source: 'body' });
  return value;
}

/**
 * A JSON body object that names only `fields`: a misspelt field is refused,
 * never ignored. An idempotency key in the body is told where it belongs: read
 * from nowhere, it would let a retry record the purchase or refund twice.
 */
export function onlyFields(body: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const unknown = firstUnknown(Object.keys(body), fields);
  if (unknown === undefined) return body;
  const allowed = `the body may hold ${listed(fields)} only`;
  if (unknown.replace(/[-_]/g, '').toLowerCase() === 'idempotencykey') {
    throw new ProductError('INVALID_BODY', `${JSON.stringify(unknown)} is not a body field: send the key in the Idempotency-Key header (${allowed})`, { source: 'body' });
  }
  throw new ProductError('INVALID_BODY', `unknown field ${JSON.stringify(unknown)}: ${allowed}`, { source: 'body' });
}

/** The first of `names` that is not one of `allowed`, if any: a misspelt key or parameter is refused, never ignored. */
export function firstUnknown(names: Iterable<string>, allowed: readonly string[]): string | undefined {
  for (const name of names) if (!allowed.includes(name)) return name;
  return undefined;
}

/** Names as a person lists them: "a", "a and b", "a, b and c". */
export function listed(names: readonly string[]): string {
  const last = names.length - 1;
  return last > 0 ? `${names.slice(0, last).join(', ')} and ${names[last]}` : names[0] ?? '';
}

/** An optional token: a non-empty string, or absent. */
export function parseOptionalToken(value: unknown, code: ErrorCode): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ProductError(code, 'token must be a string', { source: 'message' });
  return value;
}

/** Query parameters, each read as its one value: a parameter given twice is refused, never read as its first value. */
export interface Query {
  get(name: string): string | null;
  has(name: string): boolean;
  /** Every parameter's name, each once. */
  names(): string[];
}

/** The query string's parameters; reading one that is given more than once throws `repeated(name)`. */
export function queryOf(text: string, repeated: (name: string) => ProductError): Query {
  const params = new URLSearchParams(text);
  return {
    get(name) {
      const values = params.getAll(name);
      if (values.length > 1) throw repeated(name);
      return values[0] ?? null;
    },
    has: (name) => params.has(name),
    names: () => [...new Set(params.keys())],
  };
}

/** A JSON body that must be an object. */
export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isLosslessNumber(value)) {
    throw new ProductError('INVALID_BODY', 'the body must be a JSON object', { source: 'body' });
  }
  return value as Record<string, unknown>;
}
