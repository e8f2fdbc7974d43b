// The HTTP API. Handlers check the shape of a request and pass it on; the
// database decides what is valid and computes every amount.

import type { Auth } from '../auth.js';
import { bearerToken } from '../auth.js';
import type { WhatsAppConfig } from '../config.js';
import type { Sql } from '../db.js';
import { notificationsOf } from '../whatsapp/outbox.js';
import { statusCallbackHandler } from '../whatsapp/status-callback.js';
import type { Logger } from '../log.js';
import { createUser, earningsSummary, eventsAfter, userExists, unknownUser, type PurchaseOutcome, type PurchaseRequest } from '../ledger.js';
import { badRequest, unprocessable } from './api-error.js';
import type { Handler, Request } from './exchange.js';

export interface RouteContext {
  sql: Sql;
  /** Records purchases, one by one or grouped into shared transactions. */
  recordPurchase: (request: PurchaseRequest) => Promise<PurchaseOutcome>;
  auth: Auth;
  log: Logger;
  whatsapp: WhatsAppConfig;
}

const maxEventsPerPage = 1000;

export function apiRoutes({ sql, auth, log, whatsapp, recordPurchase }: RouteContext): Record<string, { method: 'get' | 'post'; handler: Handler }> {
  return {
    '/api/purchase': {
      method: 'post',
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const body = asObject(await request.json());
        const userId = positiveInteger(body.userId, 'INVALID_USER_ID', 'userId');
        const amount = decimalText(body.amount);
        const idempotencyKey = request.header('idempotency-key') || undefined;
        if (idempotencyKey !== undefined && idempotencyKey.length > 200) {
          throw unprocessable('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be at most 200 characters');
        }
        const outcome = await recordPurchase({ userId, amount, idempotencyKey });
        const { purchase, earnings } = outcome.receipt;
        log.info(
          { purchaseId: purchase.id, userId, idempotencyKey, replayed: !outcome.created },
          `${outcome.created ? 'recorded' : 'replayed (same Idempotency-Key)'} purchase ${purchase.id} of ${purchase.amount} by user ${userId}: ${earnings.length} earning(s)`,
        );
        return { status: outcome.created ? 201 : 200, body: outcome.receipt };
      },
    },

    '/api/earnings/:userId': {
      method: 'get',
      async handler(request) {
        const userId = userIdParameter(request);
        await auth.authorizeRead(userId, bearerToken(request.header('authorization')));
        return { status: 200, body: await earningsSummary(sql, userId) };
      },
    },

    '/api/earnings/:userId/events': {
      method: 'get',
      async handler(request) {
        const userId = userIdParameter(request);
        await auth.authorizeRead(userId, bearerToken(request.header('authorization')));
        const after = queryInteger(request, 'after', 0, Number.MAX_SAFE_INTEGER, 0);
        const limit = queryInteger(request, 'limit', 1, maxEventsPerPage, 100);
        if (!(await userExists(sql, userId))) throw unknownUser(userId);
        const events = await eventsAfter(sql, userId, after, limit);
        // Events are sent as the database built them.
        return { status: 200, body: `{"userId":${userId},"after":${after},"events":[${events.map((event) => event.json).join(',')}]}` };
      },
    },

    '/api/users/:userId/notifications': {
      method: 'get',
      async handler(request) {
        const userId = userIdParameter(request);
        await auth.authorizeRead(userId, bearerToken(request.header('authorization')));
        const limit = queryInteger(request, 'limit', 1, 200, 50);
        if (!(await userExists(sql, userId))) throw unknownUser(userId);
        return { status: 200, body: { userId, notifications: await notificationsOf(sql, userId, limit) } };
      },
    },

    '/twilio/status': { method: 'post', handler: statusCallbackHandler(sql, whatsapp, log) },

    '/api/users': {
      method: 'post',
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const body = asObject(await request.json());
        const user = await createUser(sql, {
          name: optionalString(body.name, 'INVALID_NAME', 'name', 200),
          phoneNumber: optionalString(body.phoneNumber, 'INVALID_PHONE_NUMBER', 'phoneNumber', 32),
          referredBy: body.referredBy === undefined || body.referredBy === null
            ? null
            : positiveInteger(body.referredBy, 'INVALID_REFERRED_BY', 'referredBy'),
        });
        return { status: 201, body: user };
      },
    },
  };
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw unprocessable('INVALID_BODY', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function positiveInteger(value: unknown, code: string, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2_147_483_647) {
    throw unprocessable(code, `${name} must be a positive integer`);
  }
  return value;
}

/**
 * An amount as decimal text for NUMERIC. A JSON number is taken as JavaScript
 * prints it (exact for any amount with at most 2 decimals); send a string to
 * be certain. Its range and decimals are the database's to check.
 */
function decimalText(value: unknown): string {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string' || !/^-?\d{1,15}(\.\d{1,20})?$/.test(text.trim())) {
    throw unprocessable('INVALID_AMOUNT', 'amount must be a decimal number (or a string of one) such as 1000 or "1999.99"');
  }
  return text.trim();
}

function optionalString(value: unknown, code: string, name: string, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > maxLength) {
    throw unprocessable(code, `${name} must be a string of at most ${maxLength} characters`);
  }
  return value;
}

function userIdParameter(request: Request): number {
  const raw = request.params[0] ?? '';
  const userId = Number(raw);
  if (!/^\d+$/.test(raw) || userId < 1 || userId > 2_147_483_647) {
    throw badRequest('INVALID_USER_ID', 'the userId in the path must be a positive integer');
  }
  return userId;
}

function queryInteger(request: Request, name: string, min: number, max: number, fallback: number): number {
  const raw = request.query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw badRequest(`INVALID_${name.toUpperCase()}`, `${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
