// The HTTP status of every product error, decided here and nowhere else.

import type { ErrorCode, ProductError } from '../errors.js';

const statusOf: Record<ErrorCode, number> = {
  MALFORMED_JSON: 400,
  INVALID_BODY: 422,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INVALID_CONTENT_LENGTH: 400,
  MALFORMED_REQUEST: 400,
  REQUEST_TIMEOUT: 408,
  REPEATED_HEADER: 400,
  REPEATED_PARAMETER: 400,
  UNKNOWN_PARAMETER: 400,
  HEADERS_TOO_LARGE: 431,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INVALID_MESSAGE: 400,
  INVALID_USER_ID: 422,
  INVALID_PURCHASE_ID: 422,
  INVALID_AMOUNT: 422,
  INVALID_REASON: 422,
  INVALID_AFTER: 400,
  INVALID_THROUGH: 400,
  INVALID_LIMIT: 400,
  INVALID_IDEMPOTENCY_KEY: 422,
  INVALID_NAME: 422,
  INVALID_PHONE_NUMBER: 422,
  INVALID_REFERRED_BY: 422,
  INVALID_SETTINGS: 422,
  INVALID_PAYOUT_ID: 422,
  INVALID_REFERENCE: 422,
  INVALID_STATUS: 422,
  INVALID_PERIOD: 422,
  INVALID_DAYS: 422,
  UNAUTHENTICATED: 401,
  INVALID_TOKEN: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  INVALID_SIGNATURE: 403,
  USER_NOT_FOUND: 404,
  PURCHASE_NOT_FOUND: 404,
  REFUND_EXCEEDS_PURCHASE: 422,
  REFERRER_NOT_FOUND: 422,
  SELF_REFERRAL: 422,
  REFERRAL_CYCLE: 422,
  IDEMPOTENCY_KEY_REUSED: 409,
  PAYOUT_NOT_FOUND: 404,
  PAYOUT_STATUS_CONFLICT: 409,
  ALREADY_SUBSCRIBED: 409,
  NOT_SUBSCRIBED: 409,
  TOO_MANY_SUBSCRIPTIONS: 429,
  TRANSACTION_CONFLICT: 503,
  DATABASE_UNAVAILABLE: 503,
  LIVE_EVENTS_DELAYED: 503,
  PAGE_NOT_BUILT: 404,
  INTERNAL_ERROR: 500,
};

/** A bad value in the path or the query string is a bad request (400); in a body or header it is unprocessable (422). */
export function httpStatusOf(error: ProductError): number {
  const status = statusOf[error.code];
  const inAddress = error.details.source === 'path' || error.details.source === 'query';
  return status === 422 && inAddress ? 400 : status;
}

export const statusLines: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large',
  415: '415 Unsupported Media Type', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests', 431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error', 503: '503 Service Unavailable',
};
