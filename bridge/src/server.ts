// The bridge's HTTP and WebSocket server, on whichever transport was chosen:
// the API routes, the page, /ws, /health and /metrics.

import type { WhatsAppConfig } from './config.js';
import type { WhatsAppWorker } from './whatsapp/worker.js';
import type { PurchaseOutcome, PurchaseRequest } from './ledger.js';
import type { RefundOutcome, RefundRequest } from './refunds.js';
import { httpApp, maxBodyBytes, type Route } from './http/exchange.js';
import { openApiRoute } from './http/openapi.js';
import { pageRoutes } from './http/page.js';
import { apiRoutes } from './http/routes.js';
import type { Transport } from './transport/transport.js';
import { closeCodes } from './ws/protocol.js';
import { webSocketEndpoint } from './ws/endpoint.js';
import { createSubscriptions, type Socket, type SubscriptionSettings, type Subscriptions } from './ws/subscriptions.js';

export interface Server {
  port: number;
  subscriptions: Subscriptions;
  /** Stops accepting connections and closes every socket with 1001. */
  close(): void;
}

export interface ServerOptions extends SubscriptionSettings {
  transport: Transport;
  host: string;
  port: number;
  whatsapp: WhatsAppConfig;
  recordPurchase: (request: PurchaseRequest) => Promise<PurchaseOutcome>;
  recordRefund: (request: RefundRequest) => Promise<RefundOutcome>;
  /** The in-process WhatsApp worker, if it runs here. */
  worker: WhatsAppWorker | undefined;
}

const healthTimeoutMs = 2000;
const idleTimeoutSeconds = 60;
/**
 * Messages up to this size are read, so that one over the protocol's 4 KiB
 * gets a proper 1009 close from the bridge; a larger one is refused by the
 * transport without reading it (1009 on node, a dropped connection on uws).
 */
const maxReadMessageBytes = 1024 * 1024;
const startedAt = Date.now();

export async function startServer(options: ServerOptions): Promise<Server> {
  const { sql, auth, log, metrics, transport } = options;
  const openSockets = new Set<Socket>();
  const subscriptions: Subscriptions = createSubscriptions({ ...options, openSockets });
  metrics.registerFlow({
    catchingUp: () => subscriptions.catchingUp(),
    bufferedBytes: () => [...openSockets].reduce((sum, ws) => sum + ws.bufferedAmount(), 0),
  });
  const routes: Route[] = [
    ...pageRoutes(),
    openApiRoute(),
    ...apiRoutes({ sql, auth, log, whatsapp: options.whatsapp, recordPurchase: options.recordPurchase, recordRefund: options.recordRefund }),
    { method: 'GET', pattern: '/health', query: [], handler: () => health(options, openSockets.size) },
    {
      method: 'GET',
      pattern: '/metrics',
      query: [],
      handler: async (request) => {
        auth.authorizeMetrics(request.header('authorization'));
        return { status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
      },
    },
  ];
  const server = transport.createServer({
    host: options.host,
    port: options.port,
    http: httpApp(routes, { log, onAnswered: (route, method, status) => metrics.httpRequests.inc({ route, method, status }) }),
    webSocket: webSocketEndpoint({ subscriptions, openSockets, metrics }),
    webSocketPath: '/ws',
    maxBodyBytes,
    maxMessageBytes: maxReadMessageBytes,
    idleTimeoutSeconds,
    // Flow control keeps a socket's buffer near the high-water mark; the
    // transport's own limit, a last resort that closes, stays well above.
    maxBackpressureBytes: options.highWaterBytes * 4 + maxReadMessageBytes,
  });

  const port = await server.listen();
  log.info({ port, transport: transport.name }, `bridge listening on http://${options.host === '0.0.0.0' ? 'localhost' : options.host}:${port} (${transport.description})`);

  return {
    port,
    subscriptions,
    close() {
      server.close();
      subscriptions.stop();
      for (const ws of [...openSockets]) ws.end(closeCodes.goingAway, 'server shutting down: reconnect and resume with after');
    },
  };
}

async function health(options: ServerOptions, sockets: number) {
  const databaseUp = await Promise.race([
    options.sql`SELECT 1`.then(() => true, () => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), healthTimeoutMs).unref()),
  ]);
  const listenerUp = options.feed.listening;
  const ok = databaseUp && listenerUp;
  return {
    status: ok ? 200 : 503,
    body: {
      status: ok ? 'ok' : 'degraded',
      db: databaseUp ? 'up' : 'down',
      listener: listenerUp ? 'up' : 'down',
      transport: options.transport.name,
      auth: { reads: options.auth.open.reads ? 'open' : 'jwt', writes: options.auth.open.writes ? 'open' : 'api-key' },
      sockets,
      whatsappWorker: options.worker?.status() ?? { state: 'not running here' },
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    },
  };
}
