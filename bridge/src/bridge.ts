// The bridge's running parts on one database pool, composed in one place: the
// earning feed, the HTTP/WebSocket server that publishes its events, and the
// WhatsApp worker. `npm start` and the tests both start it through here.

import { createAuth } from './auth.js';
import type { Config } from './config.js';
import { poolSize, type Sql } from './db.js';
import { createPurchaseBatcher } from './purchase-batcher.js';
import { recordPurchaseWithRetries, type OnRetry } from './purchase-retries.js';
import { recordRefundWithRetries } from './refunds.js';
import { createEarningFeed, type EarningEventRecord, type EarningFeed } from './feed/earning-feed.js';
import type { Logger } from './log.js';
import { createMetrics, registerOutboxDepth, type Metrics } from './metrics.js';
import { settleWithin } from './settle.js';
import { startServer, type Server } from './server.js';
import { chooseTransport } from './transport/choose.js';
import { outboxDepthByStatus } from './whatsapp/outbox.js';
import { createTwilioSender } from './whatsapp/twilio-sender.js';
import { startWhatsAppWorker, type WhatsAppWorker } from './whatsapp/worker.js';

/** Purchase batches at once, each on a connection: the rest of the pool stays free for reads and the feed. */
const purchaseBatchesInFlight = poolSize - 2;

export interface Bridge {
  feed: EarningFeed;
  server: Server;
  worker: WhatsAppWorker | undefined;
  metrics: Metrics;
  /** Stops accepting, closes sockets with 1001, stops the worker and the feed. The pool stays open. */
  stop(): Promise<void>;
}

export async function startBridge(options: {
  config: Config;
  sql: Sql;
  log: Logger;
  /** Called with every event the feed delivers, besides publishing it. */
  onEarning?: (event: EarningEventRecord) => void;
  /** Opens the feed's dedicated LISTEN connection. */
  connectListener: () => Sql;
  /** How often the listener checks itself (tests check more often). */
  pingEveryMs?: number;
}): Promise<Bridge> {
  const { config, sql, log } = options;
  const metrics = createMetrics();
  registerOutboxDepth(metrics, () => outboxDepthByStatus(sql));
  const { transport, uwsUnavailable } = chooseTransport(config.transport, config.uwsPath);
  metrics.transport.set({ transport: transport.name }, 1);
  if (uwsUnavailable) log.info({ transport: transport.name }, `serving on ${transport.description}: no native uWebSockets.js here (${uwsUnavailable})`);
  const onPurchaseRetry: OnRetry = (sqlState) => metrics.purchaseTransactionRetries.inc({ code: sqlState });

  const feed = createEarningFeed(sql, log, {
    // Every user's events when something consumes them all (the earning log); else only subscribed users'.
    scope: options.onEarning ? 'all' : 'watched',
    connectListener: options.connectListener,
    onListenerReconnect: () => metrics.listenerReconnects.inc(),
    onSeqGap: () => metrics.earningSeqGaps.inc(),
    ...(options.pingEveryMs ? { pingEveryMs: options.pingEveryMs } : {}),
  });
  const { twilio } = config.whatsapp;
  const worker = config.whatsapp.workerEnabled
    ? await startWhatsAppWorker({ sql, log, metrics, config: config.whatsapp, sender: twilio ? createTwilioSender(twilio, config.whatsapp) : undefined })
    : undefined;
  let server: Server | undefined;
  try {
    server = await startServer({
      transport,
      host: config.http.host,
      port: config.http.port,
      sql,
      feed,
      auth: createAuth(config.auth),
      log,
      metrics,
      highWaterBytes: config.wsHighWaterBytes,
      stallTimeoutMs: config.wsStallTimeoutMs,
      whatsapp: config.whatsapp,
      recordPurchase: config.purchaseBatching
        ? createPurchaseBatcher(sql, { maxInFlight: purchaseBatchesInFlight, onRetry: onPurchaseRetry }).record
        : (request) => recordPurchaseWithRetries(sql, request, onPurchaseRetry),
      recordRefund: (request) => recordRefundWithRetries(sql, request, (sqlState) => metrics.refundTransactionRetries.inc({ code: sqlState })),
      worker,
    });
    const { subscriptions } = server;
    await feed.start((event) => {
      options.onEarning?.(event);
      subscriptions.publish(event);
    });
  } catch (error) {
    server?.close();
    await worker?.stop(3000);
    await feed.stop();
    throw error;
  }

  const started = server;
  return {
    feed,
    server: started,
    worker,
    metrics,
    async stop() {
      started.close();
      await worker?.stop(3000);
      await settleWithin(feed.stop(), 3000);
    },
  };
}
