// Errors as values: every failure the product reports has a stable code and a
// message a person can act on. Causes stay attached for the logs.

export class Failure extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'Failure';
  }
}

/** The message of anything thrown, without a stack. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
