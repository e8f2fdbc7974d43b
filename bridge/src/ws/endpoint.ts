// The /ws endpoint on uWebSockets.js: upgrade (copying the URL's query),
// open (subscribing to a user named in the URL), messages, drain and close.

import type { WebSocketBehavior } from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { queryOf } from '../transport.js';
import type { Metrics } from '../metrics.js';
import { ProtocolError, closeCodes, maxClientFrameBytes, parseAfter, parseClientMessage, parseUserId } from './protocol.js';
import type { Socket, SocketData, Subscriptions } from './subscriptions.js';

const idleTimeoutSeconds = 60;

export function webSocketEndpoint(options: {
  subscriptions: Subscriptions;
  openSockets: Set<Socket>;
  metrics: Metrics;
  log: Logger;
  maxBackpressureBytes: number;
}): WebSocketBehavior<SocketData> {
  const { subscriptions, openSockets, metrics } = options;
  return {
    // Frames up to this size are read, so that one a little over 4 KiB gets a
    // proper 1009 close from us rather than an abrupt one from the transport.
    maxPayloadLength: 64 * 1024,
    // Slow consumers are closed by us with 4008 at maxBackpressureBytes; the
    // transport's own limit, which would drop messages silently, stays above.
    maxBackpressure: options.maxBackpressureBytes * 4,
    closeOnBackpressureLimit: 1, // "true" (typed as a number): close, never drop
    idleTimeout: idleTimeoutSeconds,
    sendPingsAutomatically: true,

    upgrade(res, req, context) {
      const query = new URLSearchParams(queryOf(req));
      const data: SocketData = { subscriptions: new Map(), closed: false, drained: [] };
      if (query.has('userId')) {
        data.initial = { userId: query.get('userId'), after: query.get('after') ?? undefined, token: query.get('token') ?? undefined };
      }
      res.upgrade(
        data,
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },

    open(ws) {
      openSockets.add(ws);
      metrics.openSockets.inc();
      const initial = ws.getUserData().initial;
      if (!initial) return;
      let userId: number | undefined;
      try {
        userId = parseUserId(initial.userId);
        void subscriptions.handle(ws, { type: 'subscribe', userId, after: parseAfter(initial.after), token: initial.token });
      } catch (error) {
        subscriptions.reject(ws, error, userId);
      }
    },

    message(ws, message) {
      if (message.byteLength > maxClientFrameBytes) {
        ws.end(closeCodes.messageTooBig, `messages must be at most ${maxClientFrameBytes} bytes`);
        return;
      }
      let parsed;
      try {
        parsed = parseClientMessage(Buffer.from(message).toString('utf8'));
      } catch (error) {
        subscriptions.reject(ws, error instanceof ProtocolError ? error : new ProtocolError('INVALID_MESSAGE', 'unreadable message'));
        return;
      }
      void subscriptions.handle(ws, parsed);
    },

    drain(ws) {
      subscriptions.onDrain(ws);
    },

    close(ws) {
      openSockets.delete(ws);
      metrics.openSockets.dec();
      subscriptions.onClose(ws);
    },
  };
}
