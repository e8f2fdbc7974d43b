// Prometheus metrics (prom-client), served at GET /metrics.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    openSockets: new Gauge({ name: 'websocket_open_sockets', help: 'WebSocket connections open now', registers: [registry] }),
    eventsDelivered: new Counter({
      name: 'earning_events_delivered_total',
      help: 'earning_update events handed to sockets (one per receiving socket), live and replayed',
      labelNames: ['path'] as const,
      registers: [registry],
    }),
    listenerReconnects: new Counter({
      name: 'earnings_listener_reconnects_total',
      help: 'times the LISTEN connection was re-established after a loss',
      registers: [registry],
    }),
    stalledSocketsClosed: new Counter({
      name: 'websocket_stalled_sockets_closed_total',
      help: 'sockets closed with 4008 because they drained nothing for WS_STALL_TIMEOUT_MS',
      registers: [registry],
    }),
    eventPagesServed: new Counter({
      name: 'websocket_event_pages_total',
      help: 'pages of events read from the database for subscriptions catching up (asked with after, or fallen behind)',
      registers: [registry],
    }),
    /** Reports, at each scrape, the subscriptions paging from the database and the bytes waiting for sockets. */
    registerFlow(read: { catchingUp(): number; bufferedBytes(): number }): void {
      new Gauge({
        name: 'websocket_subscriptions_catching_up',
        help: 'subscriptions reading their events from the database now, at their socket\'s pace',
        registers: [registry],
        collect() {
          this.set(read.catchingUp());
        },
      });
      new Gauge({
        name: 'websocket_buffered_bytes',
        help: 'bytes waiting in the bridge to be sent to sockets, all sockets together',
        registers: [registry],
        collect() {
          this.set(read.bufferedBytes());
        },
      });
    },
    transport: new Gauge({
      name: 'bridge_transport_info',
      help: 'the transport serving HTTP and WebSockets (1 for the one in use): uws or node',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    whatsappSendSeconds: new Histogram({
      name: 'whatsapp_send_seconds',
      help: 'time Twilio took to accept a WhatsApp message',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    whatsappFailures: new Counter({
      name: 'whatsapp_send_failures_total',
      help: 'failed WhatsApp send attempts, by Twilio error code (or HTTP status, or network error)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    commitToSend: new Histogram({
      name: 'earning_commit_to_send_seconds',
      help: 'from an earning\'s createdAt (its transaction\'s time) to its live publish',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    purchaseTransactionRetries: new Counter({
      name: 'purchase_transaction_retries_total',
      help: 'purchase transactions run again after a deadlock (40P01) or serialization failure (40001), by SQLSTATE',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    refundTransactionRetries: new Counter({
      name: 'refund_transaction_retries_total',
      help: 'refund transactions run again after a deadlock (40P01) or serialization failure (40001), by SQLSTATE',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    earningSeqGaps: new Counter({
      name: 'earning_seq_gaps_total',
      help: 'seq gaps found in the earnings ledger itself (impossible through SQL); delivery went on after each',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The outbox depth by status, read from the database at each scrape. */
export function registerOutboxDepth(metrics: Metrics, readDepth: () => Promise<Array<{ status: string; count: number }>>): void {
  new Gauge({
    name: 'whatsapp_outbox_messages',
    help: 'WhatsApp outbox rows by status',
    labelNames: ['status'] as const,
    registers: [metrics.registry],
    async collect() {
      this.reset();
      for (const { status, count } of await readDepth().catch(() => [])) this.set({ status }, count);
    },
  });
}
