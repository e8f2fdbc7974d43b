// What to do when Twilio refuses or fails: retry later (with exponential
// backoff and jitter), give up on the message for good, or, when the request
// may have reached Twilio without a clear "no" (no answer, or a 5xx other
// than 503), count an unknown outcome.

/** Twilio error codes that no retry can fix. */
export const permanentErrorCodes = new Set([
  21211, // invalid 'To' phone number
  21408, // permission to send to this region not enabled
  21610, // the recipient unsubscribed (replied STOP)
  21614, // 'To' is not a valid mobile number
  63003, // channel could not find the destination
  63016, // outside the allowed window: a template is needed
  63024, // invalid message recipient
]);

/** How many times an error Twilio gives us no reason to trust is retried. */
export const unknownErrorAttempts = 3;

/** The code of a send that may or may not have been accepted (see 0020_whatsapp_outcomes.sql). */
export const outcomeUnknownCode = 'OUTCOME_UNKNOWN';

/** The code of a message not sent because its user removed their number (see 0020_whatsapp_outcomes.sql). */
export const recipientRemovedCode = 'RECIPIENT_REMOVED';

export interface SendFailure {
  /** Twilio's error code, an HTTP status, a network error code, or OUTCOME_UNKNOWN (then `message` says why). */
  code: string;
  message: string;
  verdict: 'retry' | 'retry-a-few-times' | 'undeliverable' | 'outcome-unknown';
}

/**
 * Whether an HTTP error status says the request may have been acted on: a
 * 500 is Twilio failing after it read the request, and a 502, 504 or any
 * other 5xx may come from a gateway in front of Twilio (TWILIO_API_BASE_URL
 * may name one) that forwarded it. Only a 503 (Twilio, or a gateway, not
 * taking requests), a 429 and the 4xx Twilio documents say it was not.
 */
function mayHaveBeenAccepted(status: number): boolean {
  return status >= 500 && status !== 503;
}

/** Classifies anything the twilio client threw. */
export function classifyFailure(error: unknown): SendFailure {
  const { status, code, message } = (error ?? {}) as { status?: unknown; code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message.slice(0, 500) : 'unknown error';
  if (typeof status === 'number' && mayHaveBeenAccepted(status)) {
    const twilioCode = typeof code === 'number' ? `, Twilio code ${code}` : '';
    return {
      code: outcomeUnknownCode,
      message: `HTTP ${status}${twilioCode} (${text}): Twilio, or a gateway in front of it, may have taken the request; it may have been sent`,
      verdict: 'outcome-unknown',
    };
  }
  if (typeof code === 'number') {
    if (permanentErrorCodes.has(code)) return { code: String(code), message: text, verdict: 'undeliverable' };
    if (code === 20429 || status === 429 || status === 503) return { code: String(code), message: text, verdict: 'retry' };
    return { code: String(code), message: text, verdict: 'retry-a-few-times' };
  }
  if (typeof status === 'number') {
    return { code: `HTTP_${status}`, message: text, verdict: status === 429 || status === 503 ? 'retry' : 'retry-a-few-times' };
  }
  // No HTTP answer at all: a network error or a timeout.
  const networkCode = typeof code === 'string' ? code : 'NETWORK_ERROR';
  if (mayHaveReachedTwilio(error)) {
    return {
      code: outcomeUnknownCode,
      message: `no answer after the request was sent (${networkCode}: ${text}); it may have been sent`,
      verdict: 'outcome-unknown',
    };
  }
  return { code: networkCode, message: text, verdict: 'retry' };
}

/**
 * Whether a request that got no answer was written out (the client's
 * http.ClientRequest finished), so Twilio may have read and accepted it. One
 * that never was (refused, unreachable, no connection in time) surely was not.
 */
function mayHaveReachedTwilio(error: unknown): boolean {
  return (error as { request?: { writableFinished?: unknown } } | null)?.request?.writableFinished === true;
}

/**
 * Exponential backoff with jitter: after attempt n, wait between half and all
 * of base × 2^n (2 s, 4 s, 8 s … with the default base), at most 10 minutes.
 */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(10 * 60_000, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
