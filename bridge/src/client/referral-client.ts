// A typed client for the bridge: purchases, refunds, summaries, balances,
// payouts and settings, event pages, and live subscriptions that reconnect
// by themselves and resume with `after`, so the caller sees every event of
// the user's stream (earnings, reversals, payouts) once, in seq order.
// Works in browsers (their WebSocket) and in Node.js (pass the ws package's
// WebSocket).

import type { Balance, Payout, PayoutEvent, ProgramSettings } from './payout-types.js';

/** A credit: a purchase earned the user `amount` (docs/events.md). */
export interface EarningUpdate {
  type: 'earning_update';
  userId: number;
  seq: number;
  earningId: number;
  purchaseId: number;
  fromUserId: number;
  level: number;
  rate: string;
  amount: string;
  purchaseAmount: string;
  createdAt: string;
}

/** A reversal: a refund took back part or all of earning reversesEarningId; `amount` is negative. */
export interface EarningReversed {
  type: 'earning_reversed';
  userId: number;
  seq: number;
  earningId: number;
  reversesEarningId: number;
  refundId: number;
  purchaseId: number;
  fromUserId: number;
  level: number;
  rate: string;
  amount: string;
  refundAmount: string;
  purchaseAmount: string;
  createdAt: string;
}

/** The events that change the user's total: summing their `amount` gives it. */
export type EarningEvent = EarningUpdate | EarningReversed;

export type * from './payout-types.js';

/** Every event of a user's seq stream (docs/events.md). */
export type UserEvent = EarningEvent | PayoutEvent;

const userEventTypes = new Set(['earning_update', 'earning_reversed', 'payout_created', 'payout_paid', 'payout_failed', 'payout_canceled']);

export interface PurchaseReceipt {
  purchase: { id: number; userId: number; amount: string; createdAt: string; idempotencyKey: string | null };
  earnings: Array<{ userId: number; level: number; rate: string; amount: string; seq: number }>;
}

export interface RefundReceipt {
  refund: { id: number; purchaseId: number; amount: string; reason: string | null; createdAt: string; idempotencyKey: string | null };
  reversals: Array<{ earningId: number; reversesEarningId: number; userId: number; level: number; rate: string; amount: string; seq: number }>;
}

export interface PurchaseDetails {
  purchase: PurchaseReceipt['purchase'];
  refunded: string;
  leftToRefund: string;
  earnings: Array<{ earningId: number; userId: number; level: number; rate: string; amount: string; seq: number }>;
  refunds: RefundReceipt[];
}

export interface EarningsSummary {
  userId: number;
  /** Net of reversals. */
  total: string;
  /** count: the level's credits; reversals: its reversals. */
  levels: Array<{ level: number; total: string; count: number; reversals: number }>;
}

/** An error answer of the bridge: its HTTP status (or WebSocket close code) and stable code. */
export class ReferralApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ReferralApiError';
  }
}

interface MinimalWebSocket {
  send(data: string): void;
  close(code?: number): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => MinimalWebSocket;

export interface ReferralClientOptions {
  /** The bridge's HTTP address, e.g. http://localhost:3000. */
  baseUrl: string;
  /** The WebSocket URL; defaults to baseUrl with ws(s):// and /ws. */
  wsUrl?: string;
  /** A JWT whose sub is the user (when the bridge has JWT_SECRET). */
  token?: string;
  /** The API key for purchases, refunds, payouts, settings and reading a purchase (when the bridge has API_KEY). */
  apiKey?: string;
  /** Defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
}

export type SubscriptionStatus =
  | { state: 'connecting' }
  | { state: 'live'; lastSeq: number }
  /** The bridge sends earlier events from the database at this connection's pace (docs/websocket.md). */
  | { state: 'catching_up'; after: number }
  | { state: 'reconnecting'; inMs: number; closeCode: number }
  | { state: 'stopped'; error?: ReferralApiError };

export interface SubscribeOptions {
  /** The last seq already seen; events after it are delivered first. */
  after?: number;
  onEvent(event: UserEvent): void;
  onStatus?(status: SubscriptionStatus): void;
}

export interface Subscription {
  /** The last seq delivered to onEvent: resume from here next time. */
  readonly lastSeq: number;
  close(): void;
}

export function createReferralClient(options: ReferralClientOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const wsUrl = options.wsUrl ?? `${baseUrl.replace(/^http/, 'ws')}/ws`;

  /** Writes, and reads of a purchase or of every user's payouts, carry the API key; reads of a user's earnings, the user's token. */
  async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const credential = method === 'POST' || path.startsWith('/api/purchases/') || path.startsWith('/api/payouts') ? options.apiKey : options.token;
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
        ...(page.status ? { status: page.status } : {}), after: String(page.after ?? 0), limit: String(page.limit ?? 100),
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

    /** Follows a user's earnings live, reconnecting with backoff and resuming where it stopped. */
    subscribe(userId: number, subscriber: SubscribeOptions): Subscription {
      const WebSocketImplementation = options.WebSocket ?? (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket;
      let lastSeq = subscriber.after ?? -1;
      let socket: MinimalWebSocket | undefined;
      let closed = false;
      let failures = 0;
      let retry: ReturnType<typeof setTimeout> | undefined;

      const connect = () => {
        subscriber.onStatus?.({ state: 'connecting' });
        socket = new WebSocketImplementation(wsUrl);
        socket.onopen = () => {
          socket!.send(JSON.stringify({
            type: 'subscribe', userId, ...(lastSeq >= 0 ? { after: lastSeq } : {}), ...(options.token ? { token: options.token } : {}),
          }));
        };
        socket.onmessage = ({ data }) => {
          const frame = JSON.parse(String(data)) as { type: string } & Record<string, unknown>;
          if (frame.type === 'subscribed') {
            failures = 0;
            if (lastSeq < 0) lastSeq = frame.lastSeq as number;
            subscriber.onStatus?.({ state: 'live', lastSeq });
          } else if (frame.type === 'catching_up' && frame.userId === userId) {
            subscriber.onStatus?.({ state: 'catching_up', after: frame.after as number });
          } else if (frame.type === 'live' && frame.userId === userId) {
            subscriber.onStatus?.({ state: 'live', lastSeq: Math.max(lastSeq, 0) });
          } else if (typeof frame.seq === 'number' && frame.userId === userId) {
            if (frame.seq <= lastSeq) return; // seen already
            lastSeq = frame.seq;
            // A type this client does not know is skipped, its seq remembered (docs/events.md).
            if (userEventTypes.has(frame.type)) subscriber.onEvent(frame as unknown as UserEvent);
          } else if (frame.type === 'error') {
            const error = new ReferralApiError(0, String(frame.code), String(frame.message));
            if (['USER_NOT_FOUND', 'INVALID_MESSAGE', 'INVALID_AFTER'].includes(error.code)) stop(error);
          }
        };
        socket.onerror = () => undefined; // onclose follows
        socket.onclose = ({ code, reason }) => {
          if (closed) return;
          if (code === 4401 || code === 4403) {
            stop(new ReferralApiError(code, reason || 'UNAUTHENTICATED', 'the bridge refused the token'));
            return;
          }
          failures += 1;
          const inMs = Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random() / 2);
          subscriber.onStatus?.({ state: 'reconnecting', inMs: Math.round(inMs), closeCode: code });
          retry = setTimeout(connect, inMs);
        };
      };

      const stop = (error?: ReferralApiError) => {
        closed = true;
        if (retry) clearTimeout(retry);
        socket?.close(1000);
        subscriber.onStatus?.(error ? { state: 'stopped', error } : { state: 'stopped' });
      };

      connect();
      return {
        get lastSeq() {
          return Math.max(lastSeq, 0);
        },
        close: () => stop(),
      };
    },
  };
}

export type ReferralClient = ReturnType<typeof createReferralClient>;
