// The one error the client throws for an answer of the bridge that is not a success.

/** An error answer of the bridge: its HTTP status (or WebSocket close code) and stable code. */
export class ReferralApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ReferralApiError';
  }
}

