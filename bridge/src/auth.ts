// Who may do what. With JWT_SECRET, reading or subscribing to user X needs an
// HS256 JWT whose sub is X; with API_KEY, POST endpoints need
// "Authorization: Bearer <API_KEY>". Without them the bridge runs open.

import { timingSafeEqual, createHash } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import type { Config } from './config.js';
import { ProductError } from './errors.js';

export interface Auth {
  open: { reads: boolean; writes: boolean };
  /**
   * Resolves when the token lets its bearer read user `userId`, with when the
   * token expires (its exp, in ms; undefined without JWT_SECRET or without
   * exp: such a token never expires); rejects with UNAUTHENTICATED,
   * INVALID_TOKEN, TOKEN_EXPIRED or FORBIDDEN.
   */
  authorizeRead(userId: number, token: string | undefined): Promise<{ expiresAt: number | undefined }>;
  /** Throws UNAUTHENTICATED unless the Authorization header carries the API key. */
  authorizeWrite(authorizationHeader: string | undefined): void;
  /** /metrics: with API_KEY or METRICS_TOKEN set, either one is needed; open otherwise. */
  authorizeMetrics(authorizationHeader: string | undefined): void;
}

export function createAuth(config: Config['auth']): Auth {
  const { jwtSecret, apiKey, metricsToken } = config;
  const apiKeyDigest = apiKey ? digest(apiKey) : undefined;
  const metricsDigests = [apiKey, metricsToken].filter((key) => key !== undefined).map(digest);
  return {
    open: { reads: !jwtSecret, writes: !apiKey },

    async authorizeRead(userId, token) {
      if (!jwtSecret) return { expiresAt: undefined };
      if (!token) throw new ProductError('UNAUTHENTICATED', `a token whose sub is "${userId}" is required`);
      let subject: unknown;
      let expiresAt: number | undefined;
      try {
        const { payload } = await jwtVerify(token, jwtSecret, { algorithms: ['HS256'] });
        subject = payload.sub;
        // jose has checked that exp, if any, is a number in the future.
        expiresAt = payload.exp === undefined ? undefined : payload.exp * 1000;
      } catch (error) {
        throw tokenRefused(error);
      }
      if (typeof subject !== 'string') {
        throw new ProductError('FORBIDDEN', `the token's sub must be the user id as a string, such as "${userId}"; it is ${subject === undefined ? 'missing' : JSON.stringify(subject)}`);
      }
      if (subject !== String(userId)) {
        throw new ProductError('FORBIDDEN', `this token is for user ${subject}, not user ${userId}`);
      }
      return { expiresAt };
    },

    authorizeWrite(authorizationHeader) {
      if (!apiKeyDigest) return;
      if (!presents(authorizationHeader, [apiKeyDigest])) {
        throw new ProductError('UNAUTHENTICATED', 'this endpoint needs "Authorization: Bearer <API_KEY>"');
      }
    },

    authorizeMetrics(authorizationHeader) {
      if (metricsDigests.length === 0) return;
      if (!presents(authorizationHeader, metricsDigests)) {
        throw new ProductError('UNAUTHENTICATED', '/metrics needs "Authorization: Bearer <METRICS_TOKEN or API_KEY>"');
      }
    },
  };
}

/** Why jose refused a token, in words its bearer can act on. */
function tokenRefused(error: unknown): ProductError {
  if (error instanceof errors.JWTExpired) return new ProductError('TOKEN_EXPIRED', 'the token has expired; get a new one');
  if (error instanceof errors.JWTClaimValidationFailed && error.reason === 'invalid') {
    return new ProductError('INVALID_TOKEN', `the token's ${error.claim} claim must be a number (seconds since 1970)`);
  }
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf') {
    return new ProductError('INVALID_TOKEN', 'the token is not valid yet: its nbf (not before) is in the future; use it from then on, or check the clocks of this server and of the token\'s issuer');
  }
  return new ProductError('INVALID_TOKEN', 'the token is not a valid HS256 JWT signed with this server\'s secret');
}

/** Whether the header's bearer token is one of the keys; compares digests (equal length, so timingSafeEqual applies, and no length leaks). */
function presents(authorizationHeader: string | undefined, keyDigests: Buffer[]): boolean {
  const presented = bearerToken(authorizationHeader);
  if (!presented) return false;
  const presentedDigest = digest(presented);
  return keyDigests.some((keyDigest) => timingSafeEqual(presentedDigest, keyDigest));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The bearer token of an Authorization header, if any. */
export function bearerToken(authorizationHeader: string | undefined): string | undefined {
  return /^Bearer (.+)$/i.exec(authorizationHeader ?? '')?.[1];
}
