// The bridge's HTTP and WebSocket server on uWebSockets.js: the API routes,
// /ws, /health and /metrics, JSON errors for unknown routes and methods.

import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Auth } from './auth.js';
import type { WhatsAppConfig } from './config.js';
import type { WhatsAppWorker } from './whatsapp/worker.js';
import type { Sql } from './db.js';
import type { PurchaseOutcome, PurchaseRequest } from './ledger.js';
import type { EarningFeed } from './earning-feed.js';
import { Failure } from './failure.js';
import { ApiError } from './http/api-error.js';
import { errorReply, exchange, type ExchangeObserver, type Handler } from './http/exchange.js';
import { openApiRoute } from './http/openapi.js';
import { pageRoutes } from './http/page.js';
import { apiRoutes } from './http/routes.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { transport, uWS } from './transport.js';
import { closeCodes } from './ws/protocol.js';
import { webSocketEndpoint } from './ws/endpoint.js';
import { createSubscriptions, type Socket, type SocketData, type Subscriptions } from './ws/subscriptions.js';

export interface Server {
  port: number;
  subscriptions: Subscriptions;
  /** Stops accepting connections and closes every socket with 1001. */
  close(): void;
}

export interface ServerOptions {
  host: string;
  port: number;
  sql: Sql;
  feed: () => EarningFeed;
  auth: Auth;
  log: Logger;
  metrics: Metrics;
  maxBackpressureBytes: number;
  whatsapp: WhatsAppConfig;
  recordPurchase: (request: PurchaseRequest) => Promise<PurchaseOutcome>;
  /** The in-process WhatsApp worker, if it runs here. */
  worker: () => WhatsAppWorker | undefined;
}

const healthTimeoutMs = 2000;
const startedAt = Date.now();

export async function startServer(options: ServerOptions): Promise<Server> {
  const { sql, auth, log, metrics } = options;
  const app: TemplatedApp = uWS.App();
  const openSockets = new Set<Socket>();
  const subscriptions = createSubscriptions({ ...options, app });
  const observer: ExchangeObserver = {
    log,
    onAnswered: (route, method, status) => metrics.httpRequests.inc({ route, method, status }),
  };
  const routes: Record<string, { method: 'get' | 'post'; handler: Handler }> = {
    ...pageRoutes(),
    '/openapi.json': openApiRoute(),
    ...apiRoutes({ sql, auth, log, whatsapp: options.whatsapp, recordPurchase: options.recordPurchase }),
    '/health': { method: 'get', handler: () => health(options, openSockets.size) },
    '/metrics': {
      method: 'get',
      handler: async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
    },
  };

  app.ws<SocketData>('/ws', webSocketEndpoint({
    subscriptions, openSockets, metrics, log, maxBackpressureBytes: options.maxBackpressureBytes,
  }));
  for (const [pattern, { method, handler }] of Object.entries(routes)) {
    const allowed = method.toUpperCase();
    app[method](pattern, exchange(pattern, handler, observer));
    app.any(pattern, exchange(pattern, () =>
      errorReply(new ApiError(405, 'METHOD_NOT_ALLOWED', `${pattern} accepts ${allowed} only`), { allow: allowed }), observer));
  }
  app.any('/*', exchange('(unknown)', (request) => errorReply(new ApiError(404, 'NOT_FOUND', `there is no ${request.method} ${request.path}`)), observer));

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Failure('PORT_IN_USE', `cannot listen on ${options.host}:${options.port}: the port is in use or not allowed; set PORT to a free port`));
    });
  });
  const port = uWS.us_socket_local_port(listenSocket as never);
  log.info({ port, transport }, `bridge listening on http://${options.host === '0.0.0.0' ? 'localhost' : options.host}:${port} (uWebSockets.js ${transport})`);

  return {
    port,
    subscriptions,
    close() {
      uWS.us_listen_socket_close(listenSocket);
      for (const ws of [...openSockets]) ws.end(closeCodes.goingAway, 'server shutting down: reconnect and resume with after');
    },
  };
}

async function health(options: ServerOptions, sockets: number) {
  const databaseUp = await Promise.race([
    options.sql`SELECT 1`.then(() => true, () => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), healthTimeoutMs).unref()),
  ]);
  const listenerUp = options.feed().listening;
  const ok = databaseUp && listenerUp;
  return {
    status: ok ? 200 : 503,
    body: {
      status: ok ? 'ok' : 'degraded',
      db: databaseUp ? 'up' : 'down',
      listener: listenerUp ? 'up' : 'down',
      transport,
      auth: { reads: options.auth.open.reads ? 'open' : 'jwt', writes: options.auth.open.writes ? 'open' : 'api-key' },
      sockets,
      whatsappWorker: options.worker()?.status() ?? { state: 'not running here' },
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    },
  };
}
