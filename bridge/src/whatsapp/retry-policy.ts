// What to do when Twilio refuses or fails: retry later (with exponential
// backoff and jitter) or give up on the message for good.

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

export interface SendFailure {
  /** Twilio's error code, an HTTP status, or a network error code. */
  code: string;
  message: string;
  verdict: 'retry' | 'retry-a-few-times' | 'undeliverable';
}

/** Classifies anything the twilio client threw. */
export function classifyFailure(error: unknown): SendFailure {
  const { status, code, message } = (error ?? {}) as { status?: unknown; code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message.slice(0, 500) : 'unknown error';
  if (typeof code === 'number') {
    if (permanentErrorCodes.has(code)) return { code: String(code), message: text, verdict: 'undeliverable' };
    if (code === 20429 || status === 429) return { code: String(code), message: text, verdict: 'retry' };
    if (typeof status === 'number' && status >= 500) return { code: String(code), message: text, verdict: 'retry' };
    return { code: String(code), message: text, verdict: 'retry-a-few-times' };
  }
  if (typeof status === 'number') {
    return { code: `HTTP_${status}`, message: text, verdict: status === 429 || status >= 500 ? 'retry' : 'retry-a-few-times' };
  }
  // No HTTP answer at all: a network error or a timeout.
  return { code: typeof code === 'string' ? code : 'NETWORK_ERROR', message: text, verdict: 'retry' };
}

/**
 * Exponential backoff with jitter: after attempt n, wait between half and all
 * of base × 2^n (2 s, 4 s, 8 s … with the default base), at most 10 minutes.
 */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(10 * 60_000, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
