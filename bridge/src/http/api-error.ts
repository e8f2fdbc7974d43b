// The errors a client can see: an HTTP status, a stable code (listed in the
// README) and a message a person can act on. Nothing else leaves the bridge:
// no SQL text, no stack, no secret.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
export const unprocessable = (code: string, message: string) => new ApiError(422, code, message);
