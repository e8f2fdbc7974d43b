// The "uws" transport: uWebSockets.js, native only. Follows its rules:
// onAborted first; everything needed from req copied before returning (req is
// invalid afterwards); the body read with a size limit; replies written
// inside res.cork, and only while the client is still there.

import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
import { ProductError } from '../errors.js';
import { listenErrorCode, listenFailure } from './listen-failure.js';
import { statusLines } from '../http/statuses.js';
import type { IncomingRequest, OutgoingReply, Peer, ServerOptions, Transport, TransportServer } from './transport.js';

export type UwsModule = typeof import('uWebSockets.js');

interface Holder<Data> {
  peer?: UwsPeer<Data>;
  data: Data;
}

export function uwsTransport(uWS: UwsModule, description: string): Transport {
  return {
    name: 'uws',
    description,
    createServer<Data>(options: ServerOptions<Data>): TransportServer {
      const app: TemplatedApp = uWS.App();
      app.ws<Holder<Data>>(options.webSocketPath, {
        // Frames up to maxMessageBytes are read, so that one over the
        // protocol's own limit gets a proper 1009 close from the bridge.
        maxPayloadLength: options.maxMessageBytes,
        maxBackpressure: options.maxBackpressureBytes,
        closeOnBackpressureLimit: 1, // "true" (typed as a number): close, never drop silently
        idleTimeout: options.idleTimeoutSeconds,
        sendPingsAutomatically: true,
        upgrade(res, req, context) {
          const holder: Holder<Data> = { data: options.webSocket.create(req.getQuery() ?? '') };
          res.upgrade(holder, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
            req.getHeader('sec-websocket-extensions'), context);
        },
        open(ws) {
          const peer = new UwsPeer(ws);
          ws.getUserData().peer = peer;
          options.webSocket.open(peer);
        },
        message(ws, message) {
          // The message's memory is reused after this callback: copy it.
          options.webSocket.message(ws.getUserData().peer!, Buffer.from(message.slice(0)));
        },
        drain(ws) {
          options.webSocket.drain(ws.getUserData().peer!);
        },
        close(ws) {
          const peer = ws.getUserData().peer!;
          peer.closed = true;
          options.webSocket.close(peer);
        },
      });
      app.any('/*', (res, req) => handle(res, req, options));

      let listenSocket: us_listen_socket | undefined;
      return {
        async listen() {
          const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(options.host, options.port, resolve));
          if (!socket) throw listenFailure(options, await listenErrorCode(options));
          listenSocket = socket;
          return uWS.us_socket_local_port(listenSocket as never);
        },
        close() {
          if (listenSocket) uWS.us_listen_socket_close(listenSocket);
          listenSocket = undefined;
        },
      };
    },
  };
}

class UwsPeer<Data> implements Peer<Data> {
  closed = false;
  readonly data: Data;

  constructor(private readonly ws: WebSocket<Holder<Data>>) {
    this.data = ws.getUserData().data;
  }

  send(text: string): void {
    if (!this.closed) this.ws.send(text);
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  end(code: number, reason: string): void {
    if (!this.closed) this.ws.end(code, reason);
  }

  cork(fn: () => void): void {
    if (this.closed) fn();
    else this.ws.cork(fn);
  }
}

function handle<Data>(res: HttpResponse, req: HttpRequest, options: ServerOptions<Data>): void {
  let answered = false;
  res.onAborted(() => {
    answered = true;
  });
  const headers = new Map<string, string[]>();
  req.forEach((name, value) => headers.set(name, [...(headers.get(name) ?? []), value]));
  const method = req.getMethod().toUpperCase();
  const declaredLength = Number(headers.get('content-length')?.[0] ?? 0);
  // Only POST routes read a body; a body sent with another method is ignored.
  const body = method === 'POST' ? readBody(res, declaredLength, options.maxBodyBytes) : Promise.resolve(Buffer.alloc(0));
  // A handler may answer (say, 401) without reading the body.
  body.catch(() => undefined);

  const request: IncomingRequest = {
    method,
    path: req.getUrl(),
    query: req.getQuery() ?? '',
    headers,
    body: () => body,
  };
  options.http(request, (reply: OutgoingReply) => {
    if (answered) return;
    answered = true;
    res.cork(() => {
      res.writeStatus(statusLines[reply.status] ?? String(reply.status));
      for (const [name, value] of Object.entries(reply.headers)) res.writeHeader(name, value);
      res.end(reply.body, reply.closeConnection);
    });
  });
}

function readBody(res: HttpResponse, declaredLength: number, maxBodyBytes: number): Promise<Buffer> {
  const tooLarge = () => new ProductError('BODY_TOO_LARGE', `the request body must be at most ${maxBodyBytes} bytes`);
  if (declaredLength > maxBodyBytes) {
    res.onData(() => undefined);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    res.onData((chunk, isLast) => {
      if (refused) return;
      size += chunk.byteLength;
      if (size > maxBodyBytes) {
        refused = true;
        reject(tooLarge());
        return;
      }
      // The chunk's memory is reused after this callback: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}
