// A live subscription to one user's seq stream over the raw WebSocket: it
// reconnects with backoff and resumes with `after`, so the caller sees every
// event once, in seq order (docs/websocket.md). Browsers pass nothing (their
// WebSocket); Node.js passes the ws package's.

import { ReferralApiError } from './api-error.js';
import type { UserEvent } from './event-types.js';

const userEventTypes = new Set(['earning_update', 'earning_reversed', 'payout_created', 'payout_paid', 'payout_failed', 'payout_canceled']);

export interface MinimalWebSocket {
  send(data: string): void;
  close(code?: number): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => MinimalWebSocket;

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


export interface SocketOptions {
  wsUrl: string;
  /** A JWT whose sub is the user (when the bridge has JWT_SECRET). */
  token?: string | undefined;
  /** Defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor | undefined;
}

/** Follows a user's earnings live, reconnecting with backoff and resuming where it stopped. */
export function subscribe(connection: SocketOptions, userId: number, subscriber: SubscribeOptions): Subscription {
  const WebSocketImplementation = connection.WebSocket ?? (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket;
  let lastSeq = subscriber.after ?? -1;
  let socket: MinimalWebSocket | undefined;
  let closed = false;
  let failures = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    subscriber.onStatus?.({ state: 'connecting' });
    socket = new WebSocketImplementation(connection.wsUrl);
    socket.onopen = () => {
      socket!.send(JSON.stringify({
        type: 'subscribe', userId, ...(lastSeq >= 0 ? { after: lastSeq } : {}), ...(connection.token ? { token: connection.token } : {}),
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
}
