// The /ws endpoint, whatever transport runs it: a socket's data made from
// its URL, the subscription the URL names made at open, messages checked and
// handed to the subscriptions, and drain and close passed on.

import { ProductError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { WebSocketHandlers } from '../transport/transport.js';
import { newFlowState } from './flow-control.js';
import { queryOf } from '../input.js';
import { closeCodes, maxClientMessageBytes, parseClientMessage, parseSubscribeQuery, repeatedUrlParameter } from './protocol.js';
import type { Socket, SocketData, Subscriptions } from './subscriptions.js';

export function webSocketEndpoint(options: {
  subscriptions: Subscriptions;
  openSockets: Set<Socket>;
  metrics: Metrics;
}): WebSocketHandlers<SocketData> {
  const { subscriptions, openSockets, metrics } = options;
  return {
    create: (query) => ({ subscriptions: new Map(), closed: false, flow: newFlowState(), query, answering: new Map() }),

    open(ws) {
      openSockets.add(ws);
      metrics.openSockets.inc();
      let subscribe;
      try {
        subscribe = parseSubscribeQuery(queryOf(ws.data.query, repeatedUrlParameter));
      } catch (error) {
        subscriptions.reject(ws, error);
        return;
      }
      if (subscribe) void subscriptions.handle(ws, subscribe);
    },

    message(ws, message) {
      if (message.byteLength > maxClientMessageBytes) {
        ws.end(closeCodes.messageTooBig, `messages must be at most ${maxClientMessageBytes} bytes`);
        return;
      }
      let parsed;
      try {
        parsed = parseClientMessage(message.toString('utf8'));
      } catch (error) {
        subscriptions.reject(ws, error instanceof ProductError ? error : new ProductError('INVALID_MESSAGE', 'unreadable message'));
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
