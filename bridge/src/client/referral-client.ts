// A typed client for the bridge: purchases, refunds, summaries, balances,
// payouts and settings, the dashboard's reads, event pages, and live
// subscriptions that reconnect by themselves and resume with `after`
// (subscription.ts). Works in browsers and in Node.js (pass the ws
// package's WebSocket).

import { ReferralApiError } from './api-error.js';
import type { DailyEarnings, EarningsSummary, Notification, OutboxDepth, PurchaseDetails, PurchaseReceipt, Referrals, ProgramTotals, RefundReceipt, TopReferrers } from './api-types.js';
import type { UserEvent } from './event-types.js';
import type { Balance, Payout, ProgramSettings } from './payout-types.js';
import { subscribe, type SubscribeOptions, type Subscription, type WebSocketConstructor } from './subscription.js';

export { ReferralApiError } from './api-error.js';
export type * from './api-types.js';
export type * from './event-types.js';
export type * from './payout-types.js';
export type { SubscribeOptions, Subscription, SubscriptionStatus, WebSocketConstructor } from './subscription.js';

/** Paths the operator reads with the API key (besides every POST). */
const operatorPaths = ['/api/purchases/', '/api/payouts', '/api/program/', '/api/whatsapp/'];

export interface ReferralClientOptions {
  /** The bridge's HTTP address, e.g. http://localhost:3000. */
  baseUrl: string;
  /** The WebSocket URL; defaults to baseUrl with ws(s):// and /ws. */
  wsUrl?: string;
  /** A JWT whose sub is the user (when the bridge has JWT_SECRET). */
  token?: string;
  /** The API key for purchases, refunds, payouts, settings, the program's figures and reading a purchase (when the bridge has API_KEY). */
  apiKey?: string;
  /** Defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
}

export function createReferralClient(options: ReferralClientOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const wsUrl = options.wsUrl ?? `${baseUrl.replace(/^http/, 'ws')}/ws`;

  /** Writes, and the operator's reads (a purchase, every user's payouts, the program), carry the API key; reads of a user's, the user's token. */
  async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const credential = method === 'POST' || operatorPaths.some((prefix) => path.startsWith(prefix)) ? options.apiKey : options.token;
    return fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await send(method, path, body, headers);
    const answer = (await response.json()) as T & { error?: { code: string; message: string } };
    if (!response.ok) {
      throw new ReferralApiError(response.status, answer.error?.code ?? 'UNKNOWN', answer.error?.message ?? response.statusText);
    }
    return answer;
  }

  return {
    /** Records a purchase; amounts are decimal strings (or numbers with at most 2 decimals). */
    purchase(purchase: { userId: number; amount: string | number; idempotencyKey?: string }): Promise<PurchaseReceipt> {
      return request('POST', '/api/purchase', { userId: purchase.userId, amount: purchase.amount },
        purchase.idempotencyKey ? { 'idempotency-key': purchase.idempotencyKey } : {});
    },

    /**
     * Refunds a purchase, in full or in part; without an amount, whatever is
     * left of it. The database takes the commissions back at every level.
     */
    refund(purchaseId: number | string, refund: { amount?: string | number; reason?: string; idempotencyKey?: string } = {}): Promise<RefundReceipt> {
      return request('POST', `/api/purchases/${purchaseId}/refunds`,
        { ...(refund.amount === undefined ? {} : { amount: refund.amount }), ...(refund.reason === undefined ? {} : { reason: refund.reason }) },
        refund.idempotencyKey ? { 'idempotency-key': refund.idempotencyKey } : {});
    },

    /** A purchase with its earnings and refunds, and what is left to refund. */
    purchaseDetails(purchaseId: number | string): Promise<PurchaseDetails> {
      return request('GET', `/api/purchases/${purchaseId}`);
    },

    /** The user's totals now, or as they stood right after the event `through` (a seq). */
    summary(userId: number, through?: number): Promise<EarningsSummary> {
      return request('GET', `/api/earnings/${userId}${through === undefined ? '' : `?through=${through}`}`);
    },

    async events(userId: number, page: { after?: number; limit?: number } = {}): Promise<UserEvent[]> {
      const answer = await request<{ events: UserEvent[] }>('GET', `/api/earnings/${userId}/events?after=${page.after ?? 0}&limit=${page.limit ?? 100}`);
      return answer.events;
    },

    /** The user's money by state, now: pending, available, in payout, paid, and their total. */
    balance(userId: number): Promise<Balance> {
      return request('GET', `/api/users/${userId}/balance`);
    },

    /** The user's payouts, newest first. */
    async payouts(userId: number, page: { limit?: number } = {}): Promise<Payout[]> {
      return (await request<{ payouts: Payout[] }>('GET', `/api/users/${userId}/payouts?limit=${page.limit ?? 100}`)).payouts;
    },

    /** The program's settings: holding period, minimum payout, minimum purchase amount, currency. */
    settings(): Promise<ProgramSettings> {
      return request('GET', '/api/settings');
    },

    /** Changes the settings given (holdingPeriod as an ISO 8601 duration); the others stay. */
    changeSettings(change: Partial<Record<'holdingPeriod' | 'minimumPayout' | 'minimumPurchaseAmount' | 'currency', string>>): Promise<ProgramSettings> {
      return request('POST', '/api/settings', change);
    },

    /** Pays every user whose available balance reaches the minimum payout (in whole cents); answers the payouts created. */
    async createPayouts(): Promise<Payout[]> {
      return (await request<{ payouts: Payout[] }>('POST', '/api/payouts', {})).payouts;
    },

    /** Every user's payouts after payout id `after`, oldest first; only those with `status` when given. */
    async listPayouts(page: { status?: Payout['status']; after?: number; limit?: number } = {}): Promise<Payout[]> {
      const query = new URLSearchParams({
        // The first page has no `after` (the bridge reads after=0 as a bad payout id).
        ...(page.status ? { status: page.status } : {}), ...(page.after ? { after: String(page.after) } : {}), limit: String(page.limit ?? 100),
      });
      return (await request<{ payouts: Payout[] }>('GET', `/api/payouts?${query}`)).payouts;
    },

    markPayoutPaid(payoutId: number, reference: string): Promise<Payout> {
      return request('POST', `/api/payouts/${payoutId}/paid`, { reference });
    },

    markPayoutFailed(payoutId: number, reason?: string): Promise<Payout> {
      return request('POST', `/api/payouts/${payoutId}/failed`, reason === undefined ? {} : { reason });
    },

    cancelPayout(payoutId: number, reason?: string): Promise<Payout> {
      return request('POST', `/api/payouts/${payoutId}/cancel`, reason === undefined ? {} : { reason });
    },

    /** The payouts created from `from` to `to` (dates, UTC, both included) as CSV text, for a bank's bulk-transfer form. */
    async payoutsCsv(period: { from: string; to: string; status?: Payout['status'] }): Promise<string> {
      const response = await send('GET', `/api/payouts.csv?${new URLSearchParams(period)}`);
      if (!response.ok) {
        const answer = (await response.json()) as { error?: { code: string; message: string } };
        throw new ReferralApiError(response.status, answer.error?.code ?? 'UNKNOWN', answer.error?.message ?? response.statusText);
      }
      return response.text();
    },

    /** The people the user referred, theirs, and so on, each with what they generated for the user. */
    referrals(userId: number): Promise<Referrals> {
      return request('GET', `/api/users/${userId}/referrals`);
    },

    /** The user's earnings per UTC day for the last `days` days (default 30), today last. */
    dailyEarnings(userId: number, days = 30): Promise<DailyEarnings> {
      return request('GET', `/api/users/${userId}/earnings/daily?days=${days}`);
    },

    /** The user's WhatsApp messages and their delivery status, newest first. */
    async notifications(userId: number, page: { limit?: number } = {}): Promise<Notification[]> {
      return (await request<{ notifications: Notification[] }>('GET', `/api/users/${userId}/notifications?limit=${page.limit ?? 50}`)).notifications;
    },

    /** The program's totals, and what the last hour added (the API key). */
    programTotals(): Promise<ProgramTotals> {
      return request('GET', '/api/program/totals');
    },

    /** The users who earned most this month (the API key). */
    topReferrers(limit = 10): Promise<TopReferrers> {
      return request('GET', `/api/program/top-referrers?limit=${limit}`);
    },

    /** The WhatsApp outbox's rows by status (the API key). */
    outboxDepth(): Promise<OutboxDepth> {
      return request('GET', '/api/whatsapp/outbox');
    },

    /** Follows a user's earnings live, reconnecting with backoff and resuming where it stopped. */
    subscribe(userId: number, subscriber: SubscribeOptions): Subscription {
      return subscribe({ wsUrl, token: options.token, WebSocket: options.WebSocket }, userId, subscriber);
    },
  };
}

export type ReferralClient = ReturnType<typeof createReferralClient>;
