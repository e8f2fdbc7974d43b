// The HTTP API of the commission lifecycle: the program's settings, a user's
// balance by state and payouts, and the operator's payouts (create, list,
// mark paid, failed or canceled, export as CSV). Handlers check the shape of
// a request and pass it on; the database decides and computes.

import type { Auth } from '../auth.js';
import type { Sql } from '../db.js';
import { unknownUser } from '../errors.js';
import { asObject, onlyFields, parseLimit, parseOptionalText } from '../input.js';
import { userExists } from '../ledger.js';
import type { Logger } from '../log.js';
import { parsePayoutId, parsePayoutStatus, parsePeriod, parseReference, parseSettingsChange } from '../payout-input.js';
import { balanceOf, createPayouts, listPayouts, payoutById, payoutsForExport, payoutsOf, settlePayout, type Settlement } from '../payouts.js';
import { changeSettings, readSettings } from '../program-settings.js';
import { csvRecord } from './csv.js';
import type { Route } from './exchange.js';
import { readableUser } from './readable-user.js';

const maxPayoutsPerPage = 1000;

export function payoutRoutes({ sql, auth, log }: { sql: Sql; auth: Auth; log: Logger }): Route[] {
  /** POST /api/payouts/:payoutId/<action>: the body each action reads, and the move it asks for. */
  const settle = (pattern: string, read: (body: Record<string, unknown>) => Settlement): Route => ({
    method: 'POST',
    pattern,
    query: [],
    async handler(request) {
      auth.authorizeWrite(request.header('authorization'));
      const payoutId = parsePayoutId(request.params[0]);
      // No body is an empty one: failing or canceling needs no reason, marking paid says what is missing.
      const payout = await settlePayout(sql, payoutId, read(asObject((await request.optionalJson()) ?? {})));
      log.info({ payoutId, userId: payout.userId, status: payout.status }, `payout ${payoutId} of ${payout.amount} to user ${payout.userId} is ${payout.status}`);
      return { status: 200, body: payout };
    },
  });
  const reason = (body: Record<string, unknown>) => parseOptionalText(onlyFields(body, ['reason']).reason, 'INVALID_REASON', 'reason', 500);

  return [
    {
      method: 'GET',
      pattern: '/api/settings',
      query: [],
      // The program's terms concern every participant and hold no secret.
      handler: async () => ({ status: 200, body: await readSettings(sql) }),
    },

    {
      method: 'POST',
      pattern: '/api/settings',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const settings = await changeSettings(sql, parseSettingsChange(asObject(await request.json())));
        log.info({ settings }, 'program settings changed');
        return { status: 200, body: settings };
      },
    },

    {
      method: 'GET',
      pattern: '/api/users/:userId/balance',
      query: [],
      async handler(request) {
        const userId = await readableUser(auth, request);
        return { status: 200, body: await balanceOf(sql, userId) };
      },
    },

    {
      method: 'GET',
      pattern: '/api/users/:userId/payouts',
      query: ['limit'],
      async handler(request) {
        const userId = await readableUser(auth, request);
        const limit = parseLimit(request.query.get('limit'), maxPayoutsPerPage, 100);
        if (!(await userExists(sql, userId))) throw unknownUser(userId);
        return { status: 200, body: { userId, payouts: await payoutsOf(sql, userId, limit) } };
      },
    },

    {
      method: 'GET',
      pattern: '/api/payouts',
      query: ['status', 'after', 'limit'],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const status = parsePayoutStatus(request.query.get('status'));
        const after = request.query.get('after');
        const limit = parseLimit(request.query.get('limit'), maxPayoutsPerPage, 100);
        const payouts = await listPayouts(sql, { status, after: after ? parsePayoutId(after, 'query') : '0', limit });
        return { status: 200, body: { payouts } };
      },
    },

    {
      method: 'POST',
      pattern: '/api/payouts',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const payouts = await createPayouts(sql, (sqlState) => log.warn({ sqlState }, 'create_payouts() met a concurrent transaction; running it again'));
        log.info({ payoutIds: payouts.map((payout) => payout.id) }, `created ${payouts.length} payout(s)`);
        return { status: payouts.length > 0 ? 201 : 200, body: { payouts } };
      },
    },

    {
      method: 'GET',
      pattern: '/api/payouts.csv',
      query: ['from', 'to', 'status'],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const period = parsePeriod(request.query.get('from'), request.query.get('to'));
        const rows = await payoutsForExport(sql, period, parsePayoutStatus(request.query.get('status')));
        const text = [false, false, true, false, true, true, true, false];
        const csv = csvRecord(['id', 'user_id', 'user_name', 'amount', 'currency', 'status', 'reference', 'created_at'])
          + rows.map((row) => csvRecord([row.id, row.userId, row.userName, row.amount, row.currency, row.status, row.reference, row.createdAt], text)).join('');
        return {
          status: 200,
          body: csv,
          contentType: 'text/csv; charset=utf-8; header=present',
          headers: { 'content-disposition': `attachment; filename="payouts-${period.from}-to-${period.to}.csv"` },
        };
      },
    },

    {
      method: 'GET',
      pattern: '/api/payouts/:payoutId',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        return { status: 200, body: await payoutById(sql, parsePayoutId(request.params[0])) };
      },
    },

    settle('/api/payouts/:payoutId/paid', (body) => ({ status: 'paid', reference: parseReference(onlyFields(body, ['reference']).reference) })),
    settle('/api/payouts/:payoutId/failed', (body) => ({ status: 'failed', reason: reason(body) })),
    settle('/api/payouts/:payoutId/cancel', (body) => ({ status: 'canceled', reason: reason(body) })),
  ];
}
