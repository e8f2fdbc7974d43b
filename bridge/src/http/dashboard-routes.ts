// The HTTP API behind the dashboard: a user's downline and earnings per day
// (read with that user's token, as their earnings are), and the operator's
// program totals, top referrers and WhatsApp outbox depth (with the API key,
// as the operator's payouts are).

import type { Auth } from '../auth.js';
import { dailyEarnings, programTotals, referralsOf, topReferrersThisMonth } from '../dashboard.js';
import type { Sql } from '../db.js';
import { parseDays, parseLimit } from '../input.js';
import { sharedRead } from '../shared-read.js';
import { outboxDepthByStatus } from '../whatsapp/outbox.js';
import type { Route } from './exchange.js';
import { readableUser } from './readable-user.js';

export function dashboardRoutes({ sql, auth }: { sql: Sql; auth: Auth }): Route[] {
  // The totals read every row: requests that arrive while one read runs share its answer.
  const totals = sharedRead(() => programTotals(sql));
  return [
    {
      method: 'GET',
      pattern: '/api/users/:userId/referrals',
      query: ['limit'],
      async handler(request) {
        const userId = await readableUser(auth, request);
        const limit = parseLimit(request.query.get('limit'), 1000, 500);
        return { status: 200, body: await referralsOf(sql, userId, limit) };
      },
    },

    {
      method: 'GET',
      pattern: '/api/users/:userId/earnings/daily',
      query: ['days'],
      async handler(request) {
        const userId = await readableUser(auth, request);
        const days = parseDays(request.query.get('days'), 366, 30);
        return { status: 200, body: await dailyEarnings(sql, userId, days) };
      },
    },

    {
      method: 'GET',
      pattern: '/api/program/totals',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        return { status: 200, body: await totals() };
      },
    },

    {
      method: 'GET',
      pattern: '/api/program/top-referrers',
      query: ['limit'],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const limit = parseLimit(request.query.get('limit'), 100, 10);
        return { status: 200, body: await topReferrersThisMonth(sql, limit) };
      },
    },

    {
      method: 'GET',
      pattern: '/api/whatsapp/outbox',
      query: [],
      async handler(request) {
        auth.authorizeWrite(request.header('authorization'));
        const depth = (await outboxDepthByStatus(sql)).sort((a, b) => a.status.localeCompare(b.status));
        return { status: 200, body: { depth } };
      },
    },
  ];
}
