// The "node" transport: node:http for requests and the ws package for
// WebSockets, used wherever no native uWebSockets.js build loads. It gives
// the bridge what uWebSockets.js gives it: per-socket backpressure and drain,
// automatic pings with an idle timeout, and a hard cap on buffered bytes.

import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ProductError } from '../errors.js';
import type { IncomingRequest, OutgoingReply, Peer, ServerOptions, Transport, TransportServer } from './transport.js';
import { transportErrorReply } from './transport.js';
import { listenFailure } from './listen-failure.js';

export function nodeTransport(description: string): Transport {
  return {
    name: 'node',
    description,
    createServer<Data>(options: ServerOptions<Data>): TransportServer {
      const peers = new Set<NodePeer<Data>>();
      // requireHostHeader: node's own refusal of an HTTP/1.1 request without
      // Host has an empty body; handle() refuses it with a JSON error instead.
      const server = http.createServer({
        keepAliveTimeout: 10_000, headersTimeout: 10_000, requestTimeout: 30_000, requireHostHeader: false,
        // How often those timeouts are checked (node's default, 30 s, let a stalled request hang on for up to 40 s).
        connectionsCheckingInterval: 1_000,
      });
      const webSockets = new WebSocketServer({
        noServer: true,
        maxPayload: options.maxMessageBytes,
        perMessageDeflate: false,
        clientTracking: false,
      });

      server.on('request', (req, res) => handle(req, res, options));
      server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => refuseUnreadable(error, socket));
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        const [path, query] = splitUrl(req.url);
        if (path !== options.webSocketPath) {
          writeRaw(socket, transportErrorReply(404, 'NOT_FOUND', `there is no WebSocket endpoint at ${path}`));
          return;
        }
        webSockets.handleUpgrade(req, socket, head, (ws) => {
          const peer: NodePeer<Data> = new NodePeer<Data>(ws, socket, options.webSocket.create(query),
            options.maxBackpressureBytes, () => options.webSocket.drain(peer));
          peers.add(peer);
          ws.on('message', (data: Buffer) => {
            peer.heard();
            options.webSocket.message(peer, data);
          });
          ws.on('pong', () => peer.heard());
          ws.on('ping', () => peer.heard());
          // ws closes a socket itself (1009) when a message is over maxPayload, and reports it here first.
          ws.on('error', () => undefined);
          ws.on('close', () => {
            peer.markClosed();
            peers.delete(peer);
            options.webSocket.close(peer);
          });
          options.webSocket.open(peer);
        });
      });

      // Like uWebSockets.js's sendPingsAutomatically and idleTimeout: ping a
      // socket that has been quiet for half the timeout, drop one quiet for all of it.
      const idleMs = options.idleTimeoutSeconds * 1000;
      let pings: NodeJS.Timeout | undefined;

      return {
        async listen() {
          await new Promise<void>((resolve, reject) => {
            server.once('error', (error: NodeJS.ErrnoException) => reject(listenFailure(options, error.code)));
            server.listen(options.port, options.host, () => resolve());
          });
          pings = setInterval(() => {
            for (const peer of peers) peer.checkIdle(idleMs);
          }, Math.max(1000, idleMs / 4));
          pings.unref();
          return (server.address() as { port: number }).port;
        },
        close() {
          clearInterval(pings);
          server.close();
          server.closeIdleConnections();
        },
      };
    },
  };
}

/** Bytes of ours the kernel may take between two looks at an idle socket: a few pings'. */
const moreThanPings = 1024;

class NodePeer<Data> implements Peer<Data> {
  private closed = false;
  private lastHeardAt = Date.now();
  private sentAtLastLook = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    readonly data: Data,
    private readonly maxBackpressureBytes: number,
    /** Called when the socket's buffer has emptied after filling (its "drain" event). */
    drained: () => void,
  ) {
    ws.once('close', () => (this.closed = true));
    socket.on('drain', () => {
      // A socket that drains is alive, as uWebSockets.js counts it: a slow
      // reader's pong can wait behind megabytes it has yet to read.
      this.heard();
      drained();
    });
  }

  send(text: string): void {
    if (this.closed) return;
    // No callback per message. ws writes a frame's header and payload
    // together (one writev); with a callback, each writev that completes at
    // once queues a new closure holding both buffers on process.nextTick,
    // until the current task ends: for a burst the feed publishes in one loop,
    // every frame of every socket (GiBs). Without one, node queues nothing.
    // The flow control learns of progress from "drain" and bufferedAmount.
    this.ws.send(text);
    // The transport's last resort, as uWebSockets.js's closeOnBackpressureLimit: close, never drop silently.
    if (this.ws.bufferedAmount > this.maxBackpressureBytes) this.drop();
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.bufferedAmount;
  }

  end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close(code, reason);
  }

  markClosed(): void {
    this.closed = true;
  }

  cork(fn: () => void): void {
    if (this.closed) return fn();
    this.socket.cork();
    try {
      fn();
    } finally {
      this.socket.uncork();
    }
  }

  heard(): void {
    this.lastHeardAt = Date.now();
  }

  checkIdle(idleMs: number): void {
    // A slow reader's pong waits behind what the kernel holds for it (tens
    // of MB on loopback): the kernel taking more of our bytes since the last
    // look (more than pings would be) says the peer reads, however slowly.
    const sent = this.bytesTakenByKernel();
    if (sent - this.sentAtLastLook > moreThanPings) this.heard();
    this.sentAtLastLook = sent;
    const quietFor = Date.now() - this.lastHeardAt;
    if (quietFor >= idleMs) this.drop();
    else if (quietFor >= idleMs / 2 && !this.closed) this.ws.ping();
  }

  private bytesTakenByKernel(): number {
    const socket = this.socket as Partial<Socket>;
    return (socket.bytesWritten ?? 0) - (socket.writableLength ?? 0);
  }

  private drop(): void {
    this.closed = true;
    this.ws.terminate();
  }
}

function handle<Data>(req: http.IncomingMessage, res: http.ServerResponse, options: ServerOptions<Data>): void {
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    // RFC 9112, section 3.2: a server must refuse (400) an HTTP/1.1 request without Host.
    reply(res, transportErrorReply(400, 'MALFORMED_REQUEST', 'an HTTP/1.1 request needs a Host header'));
    return;
  }
  const [path, query] = splitUrl(req.url);
  const method = (req.method ?? 'GET').toUpperCase();
  const headers = new Map(Object.entries(req.headersDistinct).map(([name, values]) => [name, values ?? []]));
  const body = method === 'POST' ? readBody(req, options.maxBodyBytes) : Promise.resolve(Buffer.alloc(0));
  body.catch(() => undefined);
  const request: IncomingRequest = { method, path, query, headers, body: () => body };
  options.http(request, (outgoing: OutgoingReply) => reply(res, outgoing));
}

function reply(res: http.ServerResponse, outgoing: OutgoingReply): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(outgoing.status, {
    ...outgoing.headers,
    'content-length': String(Buffer.byteLength(outgoing.body)),
    ...(outgoing.closeConnection ? { connection: 'close' } : {}),
  });
  res.end(outgoing.body);
}

function readBody(req: http.IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  const tooLarge = () => new ProductError('BODY_TOO_LARGE', `the request body must be at most ${maxBodyBytes} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBodyBytes) {
        reject(tooLarge());
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** What node's HTTP parser refuses (a malformed request, ambiguous framing) gets a JSON error and a closed connection. */
function refuseUnreadable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const reply = error.code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || error.code === 'HPE_INVALID_CONTENT_LENGTH'
    ? transportErrorReply(400, 'INVALID_CONTENT_LENGTH', 'the request\'s Content-Length is invalid or given more than once; send one')
    : error.code === 'HPE_HEADER_OVERFLOW'
      ? transportErrorReply(431, 'HEADERS_TOO_LARGE', 'the request headers are too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? transportErrorReply(408, 'REQUEST_TIMEOUT', 'the request did not arrive in time: its headers must arrive within 10 s, all of it within 30 s')
        : transportErrorReply(400, 'MALFORMED_REQUEST', 'the request is not valid HTTP/1.1');
  writeRaw(socket, reply);
}

function writeRaw(socket: Duplex, reply: OutgoingReply): void {
  const head = [`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? ''}`,
    ...Object.entries(reply.headers).map(([name, value]) => `${name}: ${value}`),
    `content-length: ${Buffer.byteLength(reply.body)}`, 'connection: close'];
  socket.end(`${head.join('\r\n')}\r\n\r\n${reply.body}`);
}

function splitUrl(url: string | undefined): [path: string, query: string] {
  const value = url ?? '/';
  const mark = value.indexOf('?');
  return mark === -1 ? [value, ''] : [value.slice(0, mark), value.slice(mark + 1)];
}
