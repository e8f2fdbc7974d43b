// The product's errors: a stable code from one list, and a message a person
// can act on. They know no transport: http/statuses.ts decides each code's
// HTTP status and ws/ its frame or close code. Every code is written out
// whole, so that grep finds where it is raised, mapped and documented
// (docs/errors.md), and the compiler refuses a misspelt one.

export const errorCodes = [
  // The request itself
  'MALFORMED_JSON',
  'INVALID_BODY',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INVALID_CONTENT_LENGTH',
  'MALFORMED_REQUEST',
  'REQUEST_TIMEOUT',
  'REPEATED_HEADER',
  'REPEATED_PARAMETER',
  'UNKNOWN_PARAMETER',
  'HEADERS_TOO_LARGE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'INVALID_MESSAGE',
  // Values in it
  'INVALID_USER_ID',
  'INVALID_PURCHASE_ID',
  'INVALID_AMOUNT',
  'INVALID_REASON',
  'INVALID_AFTER',
  'INVALID_THROUGH',
  'INVALID_LIMIT',
  'INVALID_IDEMPOTENCY_KEY',
  'INVALID_NAME',
  'INVALID_PHONE_NUMBER',
  'INVALID_REFERRED_BY',
  'INVALID_SETTINGS',
  'INVALID_PAYOUT_ID',
  'INVALID_REFERENCE',
  'INVALID_STATUS',
  'INVALID_PERIOD',
  'INVALID_DAYS',
  // Who asks
  'UNAUTHENTICATED',
  'INVALID_TOKEN',
  'TOKEN_EXPIRED',
  'FORBIDDEN',
  'INVALID_SIGNATURE',
  // The ledger's answers
  'USER_NOT_FOUND',
  'PURCHASE_NOT_FOUND',
  'REFUND_EXCEEDS_PURCHASE',
  'REFERRER_NOT_FOUND',
  'SELF_REFERRAL',
  'REFERRAL_CYCLE',
  'IDEMPOTENCY_KEY_REUSED',
  'PAYOUT_NOT_FOUND',
  'PAYOUT_STATUS_CONFLICT',
  // Subscriptions
  'ALREADY_SUBSCRIBED',
  'NOT_SUBSCRIBED',
  'TOO_MANY_SUBSCRIPTIONS',
  // Try again
  'TRANSACTION_CONFLICT',
  'DATABASE_UNAVAILABLE',
  'LIVE_EVENTS_DELAYED',
  // Ours
  'PAGE_NOT_BUILT',
  'INTERNAL_ERROR',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export const isErrorCode = (code: string): code is ErrorCode => (errorCodes as readonly string[]).includes(code);

/** Where a bad value was found: in the path or query, or in the body. */
export type InputSource = 'path' | 'query' | 'body' | 'header' | 'message';

export class ProductError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: {
      /** The user a WebSocket error frame is about. */
      userId?: number;
      /** Where the bad value was; decides 400 or 422 over HTTP. */
      source?: InputSource;
      /** When a retry may succeed. */
      retryAfterSeconds?: number;
    } = {},
  ) {
    super(message);
    this.name = 'ProductError';
  }
}

export const internalError = () =>
  new ProductError('INTERNAL_ERROR', 'something went wrong on our side; it has been logged');

export const unknownUser = (userId: number) =>
  new ProductError('USER_NOT_FOUND', `there is no user ${userId}`, { userId });

export const unknownPurchase = (purchaseId: string) =>
  new ProductError('PURCHASE_NOT_FOUND', `there is no purchase ${purchaseId}`);

export const unknownPayout = (payoutId: string) =>
  new ProductError('PAYOUT_NOT_FOUND', `there is no payout ${payoutId}`);
