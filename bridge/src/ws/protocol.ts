// The WebSocket protocol's frames and close codes (docs/websocket.md). Which
// product errors close the socket, and with which code, is decided here.

import { isLosslessNumber, parse as parseLosslessJson } from 'lossless-json';
import { ProductError, type ErrorCode } from '../errors.js';
import { firstUnknown, listed, parseAfter, parseOptionalToken, parseUserId, type Query } from '../input.js';

export const closeCodes = {
  /** The server is shutting down: reconnect and resume with `after`. */
  goingAway: 1001,
  /** A message larger than maxClientMessageBytes. */
  messageTooBig: 1009,
  /** The bridge cannot read the socket's events from the database right now: reconnect after a moment and resume with `after`. */
  tryAgainLater: 1013,
  /** The socket made no progress (read nothing) for the stall timeout: reconnect and resume with `after`. */
  stalled: 4008,
  unauthenticated: 4401,
  forbidden: 4403,
} as const;

export const maxClientMessageBytes = 4 * 1024;
export const maxSubscriptionsPerSocket = 100;

export type ClientMessage =
  | { type: 'subscribe'; userId: number; after: number | undefined; token: string | undefined }
  | { type: 'unsubscribe'; userId: number };

const shapeHint = 'messages must be JSON objects such as {"type":"subscribe","userId":2} (each key at most once)';

/**
 * Parses and checks a client message; throws an INVALID_MESSAGE product error
 * saying what is wrong. Read as HTTP bodies are (lossless-json): a key given
 * twice with two values is refused, never read as its last value, and numbers
 * keep the digits sent.
 */
export function parseClientMessage(text: string): ClientMessage {
  let message: unknown;
  try {
    message = parseLosslessJson(text);
  } catch {
    throw new ProductError('INVALID_MESSAGE', shapeHint);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message) || isLosslessNumber(message)) {
    throw new ProductError('INVALID_MESSAGE', shapeHint);
  }
  const { type, userId, after, token } = message as Record<string, unknown>;
  if (type !== 'subscribe' && type !== 'unsubscribe') {
    throw new ProductError('INVALID_MESSAGE', 'type must be "subscribe" or "unsubscribe"');
  }
  // A misspelt "after" would subscribe live only, silently skipping the catch-up.
  const unknown = firstUnknown(Object.keys(message), messageKeys[type]);
  if (unknown !== undefined) {
    throw new ProductError('INVALID_MESSAGE', `unknown key ${JSON.stringify(unknown)}: ${type} messages may hold ${listed(messageKeys[type])} only`, { source: 'message' });
  }
  const user = parseUserId(userId, messageField);
  if (type === 'unsubscribe') return { type, userId: user };
  return { type, userId: user, after: optionalAfter(after), token: parseOptionalToken(token, 'INVALID_MESSAGE') };
}

/** The subscription a URL asks for (/ws?userId=2&after=17&token=…), if any; a parameter given twice is refused. */
export function parseSubscribeQuery(query: Query): ClientMessage | undefined {
  const unknown = firstUnknown(query.names(), urlParameters);
  if (unknown !== undefined) {
    throw new ProductError('INVALID_MESSAGE', `unknown URL parameter ${JSON.stringify(unknown)}: /ws takes ${listed(urlParameters)} only`, { source: 'message' });
  }
  if (!query.has('userId')) return undefined;
  return {
    type: 'subscribe',
    userId: parseUserId(query.get('userId'), messageField),
    after: optionalAfter(query.get('after')),
    token: parseOptionalToken(query.get('token'), 'INVALID_MESSAGE'),
  };
}

const messageField = { source: 'message', code: 'INVALID_MESSAGE' } as const;

/** The keys each message may hold, and the parameters the URL may give; any other is refused. */
const messageKeys = { subscribe: ['type', 'userId', 'after', 'token'], unsubscribe: ['type', 'userId'] } as const;
const urlParameters = ['userId', 'after', 'token'] as const;

/** The error for a URL parameter given more than once. */
export const repeatedUrlParameter = (name: string) =>
  new ProductError('INVALID_MESSAGE', `the URL gives ${name} more than once; give it once`, { source: 'message' });

function optionalAfter(value: unknown): number | undefined {
  return value === undefined || value === null || value === '' ? undefined : parseAfter(value, messageField);
}

const closingCodes: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: closeCodes.unauthenticated,
  INVALID_TOKEN: closeCodes.unauthenticated,
  TOKEN_EXPIRED: closeCodes.unauthenticated,
  FORBIDDEN: closeCodes.forbidden,
};

/** The close code an error ends the socket with, or undefined when an error frame is enough. */
export function closeCodeOf(error: ProductError): number | undefined {
  return closingCodes[error.code];
}

export const frames = {
  subscribed: (userId: number, lastSeq: number) => JSON.stringify({ type: 'subscribed', userId, lastSeq }),
  unsubscribed: (userId: number) => JSON.stringify({ type: 'unsubscribed', userId }),
  /** The subscription reads its events from the database, after `after`, at the socket's pace. */
  catchingUp: (userId: number, after: number) => JSON.stringify({ type: 'catching_up', userId, after }),
  /** The subscription has caught up: events arrive as they commit again. */
  live: (userId: number, lastSeq: number) => JSON.stringify({ type: 'live', userId, lastSeq }),
  /** An error frame, about the error's own user or else the one the failed message named. */
  error: (error: ProductError, userId?: number) => {
    const about = error.details.userId ?? userId;
    return JSON.stringify({ type: 'error', code: error.code, message: error.message, ...(about !== undefined ? { userId: about } : {}) });
  },
};
