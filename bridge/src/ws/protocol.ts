// The WebSocket protocol's frames and close codes (docs: README, "WebSocket").

export const closeCodes = {
  /** The server is shutting down: reconnect and resume with `after`. */
  goingAway: 1001,
  /** A frame larger than maxClientFrameBytes. */
  messageTooBig: 1009,
  /** The socket fell too far behind: reconnect and resume with `after`. */
  tooSlow: 4008,
  unauthenticated: 4401,
  forbidden: 4403,
} as const;

export const maxClientFrameBytes = 4 * 1024;
export const maxSubscriptionsPerSocket = 100;

export type ClientMessage =
  | { type: 'subscribe'; userId: number; after: number | undefined; token: string | undefined }
  | { type: 'unsubscribe'; userId: number };

export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly userId?: number,
  ) {
    super(message);
  }
}

/** Parses and checks a client frame; throws a ProtocolError saying what is wrong. */
export function parseClientMessage(text: string): ClientMessage {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new ProtocolError('INVALID_MESSAGE', 'messages must be JSON objects such as {"type":"subscribe","userId":2}');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new ProtocolError('INVALID_MESSAGE', 'messages must be JSON objects such as {"type":"subscribe","userId":2}');
  }
  const { type, userId, after, token } = message as Record<string, unknown>;
  if (type !== 'subscribe' && type !== 'unsubscribe') {
    throw new ProtocolError('INVALID_MESSAGE', 'type must be "subscribe" or "unsubscribe"');
  }
  const user = parseUserId(userId);
  if (type === 'unsubscribe') return { type, userId: user };
  return { type, userId: user, after: parseAfter(after), token: parseToken(token) };
}

export function parseUserId(value: unknown): number {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > 2_147_483_647) {
    throw new ProtocolError('INVALID_MESSAGE', 'userId must be a positive integer');
  }
  return number;
}

export function parseAfter(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
    throw new ProtocolError('INVALID_MESSAGE', 'after must be a whole number: the last seq you received (0 for everything)');
  }
  return number;
}

function parseToken(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ProtocolError('INVALID_MESSAGE', 'token must be a string');
  return value;
}

export const frames = {
  subscribed: (userId: number, lastSeq: number) => JSON.stringify({ type: 'subscribed', userId, lastSeq }),
  unsubscribed: (userId: number) => JSON.stringify({ type: 'unsubscribed', userId }),
  error: (code: string, message: string, userId?: number) =>
    JSON.stringify({ type: 'error', code, message, ...(userId !== undefined ? { userId } : {}) }),
};
