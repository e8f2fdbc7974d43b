// The seam between the bridge and the server library that carries its HTTP
// and WebSocket traffic. Two transports implement it: "uws" (uWebSockets.js,
// native) and "node" (node:http with the ws package). Routes, subscriptions
// and the feed see only these types, never which transport runs them. Live
// events go to each socket with send, not through a library's topics: the
// bridge must know, right after each send, how much a socket has buffered
// (uWebSockets.js delivers topic messages later, in batches).

import type { ErrorCode } from '../errors.js';

export type TransportName = 'uws' | 'node';

/** One HTTP request, as every transport hands it over. */
export interface IncomingRequest {
  /** Upper case: GET, POST… */
  method: string;
  /** The path, without the query string, as sent (not percent-decoded). */
  path: string;
  /** The raw query string (after "?"), or "". */
  query: string;
  /** Every header, by lower-case name, each value as the transport read it, in order. */
  headers: ReadonlyMap<string, readonly string[]>;
  /** The body; rejects with a ProductError (BODY_TOO_LARGE) past maxBodyBytes, declared or sent. */
  body(): Promise<Buffer>;
}

export interface OutgoingReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Close the connection after this reply (its framing cannot be trusted). */
  closeConnection: boolean;
}

/** Answers a request: calls `respond` once, at any time (it is ignored once the client went away). */
export type RequestHandler = (request: IncomingRequest, respond: (reply: OutgoingReply) => void) => void;

/** A WebSocket as the bridge sees it. Every method is a no-op once the socket has closed. */
export interface Peer<Data> {
  readonly data: Data;
  send(text: string): void;
  /** Bytes waiting to be sent to this socket. */
  bufferedAmount(): number;
  /** Closes with a code and reason (a close frame, then the TCP connection). */
  end(code: number, reason: string): void;
  /** Runs `send`s together so they leave in as few packets as possible. */
  cork(fn: () => void): void;
}

export interface WebSocketHandlers<Data> {
  /** The socket's own data, made from the upgrade request's query string. */
  create(query: string): Data;
  open(peer: Peer<Data>): void;
  /** A text or binary message, at most maxMessageBytes (larger ones are closed with 1009 before this). */
  message(peer: Peer<Data>, message: Buffer): void;
  /**
   * The socket's buffered bytes went down: on uws whenever some left, on node
   * when a full buffer emptied. The flow control also reads bufferedAmount on
   * its own, so a transport may report drains this sparingly.
   */
  drain(peer: Peer<Data>): void;
  close(peer: Peer<Data>): void;
}

export interface ServerOptions<Data> {
  host: string;
  port: number;
  http: RequestHandler;
  /** Served at webSocketPath. */
  webSocket: WebSocketHandlers<Data>;
  webSocketPath: string;
  maxBodyBytes: number;
  /** Messages up to this size reach the handlers; larger ones close the socket with 1009. */
  maxMessageBytes: number;
  /** A socket that answers nothing (not even a ping) for this long is dropped. */
  idleTimeoutSeconds: number;
  /** A socket whose buffered bytes pass this is closed by the transport itself (a last resort above the bridge's own limit). */
  maxBackpressureBytes: number;
}

/** A server made but not yet listening. */
export interface TransportServer {
  /** Starts accepting connections; resolves with the port (useful when 0 was asked for). */
  listen(): Promise<number>;
  /** Stops accepting connections and requests; open sockets stay until ended. */
  close(): void;
}

export interface Transport {
  name: TransportName;
  /** The library and version, for the start-up log. */
  description: string;
  createServer<Data>(options: ServerOptions<Data>): TransportServer;
}

/** A reply written by the transport itself, for a request it could not hand over. */
export function transportErrorReply(status: number, code: ErrorCode, message: string): OutgoingReply {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { code, message } }),
    closeConnection: true,
  };
}
