// The one table that turns database errors into product errors. The database
// holds the rules; this only says which of the product's codes each refusal is.

import { ProductError, type ErrorCode } from './errors.js';

interface DatabaseError {
  code?: string;
  constraint_name?: string;
  message?: string;
}

const byConstraint: Record<string, [code: ErrorCode, message: string]> = {
  purchases_amount_is_positive: ['INVALID_AMOUNT', 'amount must be greater than 0'],
  purchases_amount_is_a_number: ['INVALID_AMOUNT', 'amount must be a number'],
  purchases_amount_is_at_most_999999999999_99: ['INVALID_AMOUNT', 'amount must be at most 999999999999.99'],
  purchases_amount_has_at_most_2_decimals: ['INVALID_AMOUNT', 'amount must have at most 2 decimals (it is never rounded)'],
  purchases_user_id_fkey: ['USER_NOT_FOUND', 'no user has that userId'],
  refunds_amount_is_positive: ['INVALID_AMOUNT', 'amount must be greater than 0'],
  refunds_amount_is_a_number: ['INVALID_AMOUNT', 'amount must be a number'],
  refunds_amount_is_at_most_999999999999_99: ['INVALID_AMOUNT', 'amount must be at most 999999999999.99'],
  refunds_amount_has_at_most_2_decimals: ['INVALID_AMOUNT', 'amount must have at most 2 decimals (it is never rounded)'],
  refunds_purchase_id_fkey: ['PURCHASE_NOT_FOUND', 'there is no purchase with that id'],
  refunds_reason_is_at_most_500_characters: ['INVALID_REASON', 'reason must be at most 500 characters'],
  users_referred_by_fkey: ['REFERRER_NOT_FOUND', 'no user has the id given as referredBy'],
  users_phone_number_is_e164: ['INVALID_PHONE_NUMBER', 'phoneNumber must be in E.164 form: + and 8 to 15 digits, e.g. +4915112345678'],
  program_settings_holding_period_is_not_negative: ['INVALID_SETTINGS', 'holdingPeriod must not be negative'],
  program_settings_holding_period_is_at_most_3650_days: ['INVALID_SETTINGS', 'holdingPeriod must be at most 3650 days'],
  program_settings_holding_period_uses_days_and_time_only: ['INVALID_SETTINGS', 'holdingPeriod must be weeks, days and time such as "P30D" or "PT12H", not months or years, which vary in length'],
  ...settingsMoney('minimum_payout', 'minimumPayout'),
  ...settingsMoney('minimum_purchase_amount', 'minimumPurchaseAmount'),
  program_settings_currency_is_at_most_10_characters: ['INVALID_SETTINGS', 'currency must be at most 10 characters, such as "INR"'],
  program_settings_currency_has_no_spaces_or_control_characters: ['INVALID_SETTINGS', 'currency must hold no spaces or control characters, such as "INR"'],
  payouts_reference_is_1_to_200_characters: ['INVALID_REFERENCE', 'reference must be 1 to 200 characters'],
  payouts_reference_is_not_blank: ['INVALID_REFERENCE', 'reference must not be blank'],
  payouts_reference_has_no_control_characters: ['INVALID_REFERENCE', 'reference must hold no control characters'],
  payouts_reason_is_at_most_500_characters: ['INVALID_REASON', 'reason must be at most 500 characters'],
};

/** The CHECKs of a money setting (program_settings.<column>), named in messages as the API's field. */
function settingsMoney(column: string, field: string): Record<string, [ErrorCode, string]> {
  return {
    [`program_settings_${column}_is_not_negative`]: ['INVALID_SETTINGS', `${field} must not be negative`],
    [`program_settings_${column}_is_a_number`]: ['INVALID_SETTINGS', `${field} must be a number`],
    [`program_settings_${column}_is_below_1_trillion`]: ['INVALID_SETTINGS', `${field} must be at most 999999999999.99`],
    [`program_settings_${column}_has_at_most_2_decimals`]: ['INVALID_SETTINGS', `${field} must have at most 2 decimals (it is never rounded)`],
  };
}

// Their messages are written for users and name the ids (and amounts) involved.
const passMessageThrough: Record<string, ErrorCode> = {
  users_referred_by_is_not_self: 'SELF_REFERRAL',
  users_referral_is_acyclic: 'REFERRAL_CYCLE',
  refunds_do_not_exceed_the_purchase: 'REFUND_EXCEEDS_PURCHASE',
  payouts_payout_exists: 'PAYOUT_NOT_FOUND',
  payouts_status_changes_only_from_pending: 'PAYOUT_STATUS_CONFLICT',
};

/** A deadlock or a serialization failure: nothing was committed, and the same transaction may succeed if run again. */
export function isTransactionConflict(error: unknown): boolean {
  const code = (error as DatabaseError | undefined)?.code;
  return code === '40P01' || code === '40001';
}

// 55000 is what a database that does not accept connections (ALLOW_CONNECTIONS false) answers.
const unavailable = new Set(['55000', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03', '53300']);

/** The product error for a database error, or undefined when it is not a client's fault (a bug: log it). */
export function productErrorFromDatabase(error: unknown): ProductError | undefined {
  const { code, constraint_name: constraint, message } = (error ?? {}) as DatabaseError;
  if (constraint && byConstraint[constraint]) {
    const [productCode, text] = byConstraint[constraint];
    return new ProductError(productCode, text, { source: 'body' });
  }
  if (constraint && passMessageThrough[constraint] && message) {
    return new ProductError(passMessageThrough[constraint], message, { source: 'body' });
  }
  if (code === '22P02' || code === '22003') {
    return new ProductError('INVALID_AMOUNT', 'amount must be a decimal number such as 1000 or 1999.99', { source: 'body' });
  }
  if (isTransactionConflict(error)) {
    return new ProductError('TRANSACTION_CONFLICT', 'the database had to abort this transaction because of a concurrent one; nothing was written: try again', { retryAfterSeconds: 1 });
  }
  if (code && unavailable.has(code)) {
    return new ProductError('DATABASE_UNAVAILABLE', 'the database is unavailable; try again shortly', { retryAfterSeconds: 1 });
  }
  return undefined;
}
