// Who may do what. With JWT_SECRET, reading or subscribing to user X needs an
// HS256 JWT whose sub is X; with API_KEY, POST endpoints need
// "Authorization: Bearer <API_KEY>". Without them the bridge runs open.

import { timingSafeEqual, createHash } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import type { Config } from './config.js';
import { ApiError } from './http/api-error.js';

export interface Auth {
  open: { reads: boolean; writes: boolean };
  /** Resolves when the token lets its bearer read user `userId`; rejects with a 401/403 ApiError. */
  authorizeRead(userId: number, token: string | undefined): Promise<void>;
  /** Throws a 401 ApiError unless the Authorization header carries the API key. */
  authorizeWrite(authorizationHeader: string): void;
}

export function createAuth(config: Config['auth']): Auth {
  const { jwtSecret, apiKey } = config;
  const apiKeyDigest = apiKey ? digest(apiKey) : undefined;
  return {
    open: { reads: !jwtSecret, writes: !apiKey },

    async authorizeRead(userId, token) {
      if (!jwtSecret) return;
      if (!token) throw new ApiError(401, 'UNAUTHENTICATED', `a token whose sub is ${userId} is required`);
      let subject: string | undefined;
      try {
        ({ payload: { sub: subject } } = await jwtVerify(token, jwtSecret, { algorithms: ['HS256'] }));
      } catch (error) {
        throw new ApiError(
          401,
          error instanceof errors.JWTExpired ? 'TOKEN_EXPIRED' : 'INVALID_TOKEN',
          error instanceof errors.JWTExpired ? 'the token has expired; get a new one' : 'the token is not a valid HS256 JWT signed with this server\'s secret',
        );
      }
      if (subject !== String(userId)) {
        throw new ApiError(403, 'FORBIDDEN', `this token is for user ${subject ?? '(none)'}, not user ${userId}`);
      }
    },

    authorizeWrite(authorizationHeader) {
      if (!apiKeyDigest) return;
      const presented = /^Bearer (.+)$/i.exec(authorizationHeader)?.[1];
      // Compare digests: equal length, so timingSafeEqual applies, and no length leak.
      if (!presented || !timingSafeEqual(digest(presented), apiKeyDigest)) {
        throw new ApiError(401, 'UNAUTHENTICATED', 'this endpoint needs "Authorization: Bearer <API_KEY>"');
      }
    },
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The bearer token of an Authorization header, if any. */
export function bearerToken(authorizationHeader: string): string | undefined {
  return /^Bearer (.+)$/i.exec(authorizationHeader)?.[1];
}
