// The HTTP API. Handlers check the shape of a request and pass it on; the
// database decides what is valid and computes every amount.

import type { Auth } from '../auth.js';
import type { WhatsAppConfig } from '../config.js';
import type { Sql } from '../db.js';
import { notificationsOf } from '../whatsapp/outbox.js';
import { statusCallbackHandler } from '../whatsapp/status-callback.js';
import type { Logger } from '../log.js';
import { unknownUser } from '../errors.js';
import {
  asObject, onlyFields, parseAfter, parseAmount, parseIdempotencyKey, parseLimit, parseOptionalText, parsePurchaseId, parseRefundAmount, parseThrough, parseUserId,
} from '../input.js';
import { eventsAfter } from '../earning-events.js';
import { createUser, earningsSummary, userExists, type PurchaseOutcome, type PurchaseRequest } from '../ledger.js';
import { purchaseDetails, type RefundOutcome, type RefundRequest } from '../refunds.js';
import type { Route } from './exchange.js';
import { readableUser } from './readable-user.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { payoutRoutes } from './payout-routes.js';

export interface RouteContext {
  sql: Sql;
  /** Records purchases, one by one or grouped into shared transactions. */
  recordPurchase: (request: PurchaseRequest) => Promise<PurchaseOutcome>;
  /** Records a refund in its own transaction. */
  recordRefund: (request: RefundRequest) => Promise<RefundOutcome>;
  auth: Auth;
  log: Logger;
  whatsapp: WhatsAppConfig;
}

const maxEventsPerPage = 1000;

export function apiRoutes({ sql, auth, log, whatsapp, recordPurchase, recordRefund }: RouteContext): Route[] {
  return [
    {
      method: 'POST',
      pattern: '/api/purchase',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const body = onlyFields(asObject(await request.json()), ['userId', 'amount']);
        const userId = parseUserId(body.userId, { source: 'body' });
        const amount = parseAmount(body.amount);
        const idempotencyKey = parseIdempotencyKey(request.header('idempotency-key'));
        const outcome = await recordPurchase({ userId, amount, idempotencyKey });
        const { purchase, earnings } = outcome.receipt;
        log.info(
          { purchaseId: purchase.id, userId, idempotencyKey, replayed: !outcome.created },
          `${outcome.created ? 'recorded' : 'replayed (same Idempotency-Key)'} purchase ${purchase.id} of ${purchase.amount} by user ${userId}: ${earnings.length} earning(s)`,
        );
        return { status: outcome.created ? 201 : 200, body: outcome.receipt };
      },
    },

    {
      method: 'POST',
      pattern: '/api/purchases/:purchaseId/refunds',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const purchaseId = parsePurchaseId(request.params[0]);
        const body = onlyFields(asObject(await request.json()), ['amount', 'reason']);
        const amount = parseRefundAmount(body);
        const reason = parseOptionalText(body.reason, 'INVALID_REASON', 'reason', 500);
        const idempotencyKey = parseIdempotencyKey(request.header('idempotency-key'));
        const outcome = await recordRefund({ purchaseId, amount, reason, idempotencyKey });
        const { refund, reversals } = outcome.receipt;
        log.info(
          { purchaseId, refundId: refund.id, idempotencyKey, replayed: !outcome.created },
          `${outcome.created ? 'recorded' : 'replayed (same Idempotency-Key)'} refund ${refund.id} of ${refund.amount} on purchase ${purchaseId}: ${reversals.length} reversal(s)`,
        );
        return { status: outcome.created ? 201 : 200, body: outcome.receipt };
      },
    },

    {
      method: 'GET',
      pattern: '/api/purchases/:purchaseId',
      query: [],
      async handler(request) {
        // A purchase concerns its buyer and every referrer it credited, so
        // reading it takes the API key, not one user's token.
        auth.authorizeWrite(request.header('authorization'));
        return { status: 200, body: await purchaseDetails(sql, parsePurchaseId(request.params[0])) };
      },
    },

    {
      method: 'GET',
      pattern: '/api/earnings/:userId',
      query: ['through'],
      async handler(request) {
        const userId = await readableUser(auth, request);
        const through = parseThrough(request.query.get('through'));
        return { status: 200, body: await earningsSummary(sql, userId, through) };
      },
    },

    {
      method: 'GET',
      pattern: '/api/earnings/:userId/events',
      query: ['after', 'limit'],
      async handler(request) {
        const userId = await readableUser(auth, request);
        const after = parseAfter(request.query.get('after') || '0', { source: 'query' });
        const limit = parseLimit(request.query.get('limit'), maxEventsPerPage, 100);
        if (!(await userExists(sql, userId))) throw unknownUser(userId);
        const events = await eventsAfter(sql, userId, after, limit);
        // Events are sent as the database built them.
        return { status: 200, body: `{"userId":${userId},"after":${after},"events":[${events.map((event) => event.json).join(',')}]}` };
      },
    },

    {
      method: 'GET',
      pattern: '/api/users/:userId/notifications',
      query: ['limit'],
      async handler(request) {
        const userId = await readableUser(auth, request);
        const limit = parseLimit(request.query.get('limit'), 200, 50);
        if (!(await userExists(sql, userId))) throw unknownUser(userId);
        return { status: 200, body: { userId, notifications: await notificationsOf(sql, userId, limit) } };
      },
    },

    { method: 'POST', pattern: '/twilio/status', query: [], handler: statusCallbackHandler(sql, whatsapp, log) },

    {
      method: 'POST',
      pattern: '/api/users',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        // A misspelt referredBy must not make a user nobody referred.
        const body = onlyFields(asObject(await request.json()), ['name', 'phoneNumber', 'referredBy']);
        const user = await createUser(sql, {
          name: parseOptionalText(body.name, 'INVALID_NAME', 'name', 200),
          phoneNumber: parseOptionalText(body.phoneNumber, 'INVALID_PHONE_NUMBER', 'phoneNumber', 32),
          referredBy: body.referredBy === undefined || body.referredBy === null
            ? null
            : parseUserId(body.referredBy, { source: 'body', name: 'referredBy', code: 'INVALID_REFERRED_BY' }),
        });
        return { status: 201, body: user };
      },
    },

    ...payoutRoutes({ sql, auth, log }),
    ...dashboardRoutes({ sql, auth }),
  ];
}
