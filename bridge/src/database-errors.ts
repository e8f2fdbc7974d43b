// The one table that turns database errors into API errors. The database
// holds the rules; this only says how each refusal reads over HTTP.

import { ApiError } from './http/api-error.js';

interface DatabaseError {
  code?: string;
  constraint_name?: string;
  column_name?: string;
  message?: string;
}

const byConstraint: Record<string, [status: number, code: string, message: string]> = {
  purchases_amount_is_positive: [422, 'INVALID_AMOUNT', 'amount must be greater than 0'],
  purchases_amount_is_a_number: [422, 'INVALID_AMOUNT', 'amount must be a number'],
  purchases_amount_is_at_most_999999999999_99: [422, 'INVALID_AMOUNT', 'amount must be at most 999999999999.99'],
  purchases_amount_has_at_most_2_decimals: [422, 'INVALID_AMOUNT', 'amount must have at most 2 decimals (it is never rounded)'],
  purchases_user_id_fkey: [404, 'USER_NOT_FOUND', 'no user has that userId'],
  users_referred_by_fkey: [422, 'REFERRER_NOT_FOUND', 'no user has the id given as referredBy'],
  users_phone_number_is_e164: [422, 'INVALID_PHONE_NUMBER', 'phoneNumber must be in E.164 form: + and 8 to 15 digits, e.g. +4915112345678'],
};

// Their messages are written for users and name the ids involved.
const passMessageThrough: Record<string, string> = {
  users_referred_by_is_not_self: 'SELF_REFERRAL',
  users_referral_is_acyclic: 'REFERRAL_CYCLE',
};

// 55000 is what a database that does not accept connections (ALLOW_CONNECTIONS false) answers.
const unavailable = new Set(['55000', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03', '53300']);

/** The API error for a database error, or undefined when it is not a client's fault. */
export function apiErrorFromDatabase(error: unknown): ApiError | undefined {
  const { code, constraint_name: constraint, message } = (error ?? {}) as DatabaseError;
  if (constraint && byConstraint[constraint]) {
    const [status, apiCode, text] = byConstraint[constraint];
    return new ApiError(status, apiCode, text);
  }
  if (constraint && passMessageThrough[constraint] && message) {
    return new ApiError(422, passMessageThrough[constraint], message);
  }
  if (code === '22P02' || code === '22003') {
    return new ApiError(422, 'INVALID_AMOUNT', 'amount must be a decimal number such as 1000 or 1999.99');
  }
  if (code && unavailable.has(code)) {
    return new ApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unavailable; try again shortly');
  }
  return undefined;
}
