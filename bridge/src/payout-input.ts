// The values the payout operator sends: payout ids, settings changes,
// transfer references, statuses and periods. Read as input.ts reads every
// other value: a bad one is refused with a product error that says what a
// good one looks like; nothing is rounded or guessed.

import { ProductError } from './errors.js';
import { decimalText, parseBigintId } from './input.js';

/** A payout id (payouts.id, a bigint) in a path, or the `after` of a page of payouts, as its canonical digits. */
export function parsePayoutId(value: unknown, source: 'path' | 'query' = 'path'): string {
  return parseBigintId(value, 'INVALID_PAYOUT_ID', source === 'path' ? 'the payoutId in the path' : 'after', source);
}

/** A change of the program's settings: each field optional, null meaning "unchanged". */
export interface SettingsChange {
  /** An ISO 8601 duration ("P30D"), which PostgreSQL reads as an interval. */
  holdingPeriod: string | null;
  minimumPayout: string | null;
  minimumPurchaseAmount: string | null;
  currency: string | null;
}

const isoDuration = /^P(?!$)(\d{1,6}Y)?(\d{1,6}M)?(\d{1,6}W)?(\d{1,6}D)?(T(?=\d)(\d{1,6}H)?(\d{1,6}M)?(\d{1,9}(\.\d{1,6})?S)?)?$/;

/**
 * The body of a settings change: at least one of holdingPeriod (an ISO 8601
 * duration), minimumPayout and minimumPurchaseAmount (decimals, as amounts
 * are read) and currency (a string, "" for none). Ranges are the database's
 * to check; each refusal names the field.
 */
export function parseSettingsChange(body: Record<string, unknown>): SettingsChange {
  const fields = ['holdingPeriod', 'minimumPayout', 'minimumPurchaseAmount', 'currency'] as const;
  const unknown = Object.keys(body).find((key) => !(fields as readonly string[]).includes(key));
  if (unknown !== undefined || Object.keys(body).length === 0) {
    throw new ProductError('INVALID_SETTINGS', `${unknown === undefined ? 'the body names no setting' : `unknown setting ${JSON.stringify(unknown)}`}: send one or more of ${fields.join(', ')}`, { source: 'body' });
  }
  const invalid = (name: string, expected: string) => new ProductError('INVALID_SETTINGS', `${name} must be ${expected}`, { source: 'body' });
  const money = (name: 'minimumPayout' | 'minimumPurchaseAmount') => {
    if (!(name in body)) return null;
    const text = decimalText(body[name]);
    if (text === undefined) throw invalid(name, 'a decimal number (or a string of one) such as 50 or "50.00"');
    return text;
  };
  const { holdingPeriod, currency } = body;
  if (holdingPeriod !== undefined && (typeof holdingPeriod !== 'string' || !isoDuration.test(holdingPeriod))) {
    throw invalid('holdingPeriod', 'an ISO 8601 duration such as "P30D" (30 days), "P2W", "PT12H" or "P0D" (none)');
  }
  if (currency !== undefined && typeof currency !== 'string') throw invalid('currency', 'a string such as "INR" ("" for none)');
  return {
    holdingPeriod: holdingPeriod ?? null,
    minimumPayout: money('minimumPayout'),
    minimumPurchaseAmount: money('minimumPurchaseAmount'),
    currency: currency ?? null,
  };
}

/**
 * A payout's transfer reference (the bank's or PayPal's transfer id): 1 to
 * 200 characters, not blank, no control characters.
 */
export function parseReference(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || [...value].length > 200 || /[\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new ProductError('INVALID_REFERENCE', 'reference must be the transfer\'s id at the bank or PayPal: 1 to 200 characters, without control characters', { source: 'body' });
  }
  return value;
}

const payoutStatuses = ['pending', 'paid', 'failed', 'canceled'] as const;
export type PayoutStatus = (typeof payoutStatuses)[number];

/** A payout status to filter by; null when absent (every status). */
export function parsePayoutStatus(value: string | null): PayoutStatus | null {
  if (value === null || value === '') return null;
  if (!(payoutStatuses as readonly string[]).includes(value)) {
    throw new ProductError('INVALID_STATUS', `status must be one of ${payoutStatuses.join(', ')}`, { source: 'query' });
  }
  return value as PayoutStatus;
}

/** A period of whole days in UTC, from and to inclusive: two dates (YYYY-MM-DD), to not before from. */
export function parsePeriod(from: string | null, to: string | null): { from: string; to: string } {
  const isDate = (text: string | null): text is string => {
    const day = new Date(`${text}T00:00:00Z`);
    return text !== null && /^(19|[2-9]\d)\d{2}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(day.getTime()) && day.toISOString().startsWith(text);
  };
  if (!isDate(from) || !isDate(to) || to < from) {
    throw new ProductError('INVALID_PERIOD', 'from and to must be dates (YYYY-MM-DD, days in UTC, both included), to not before from', { source: 'query' });
  }
  return { from, to };
}
