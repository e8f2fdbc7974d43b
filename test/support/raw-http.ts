// HTTP/1.1 by hand, for requests no well-behaved client sends: header bytes
// outside ASCII, two Content-Length headers. Reads the answer until the
// server closes the connection or the declared body has arrived.

import net from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: any;
  /** The server closed the connection after answering. */
  closed: boolean;
}

/** Sends `head` (the request line and headers, without the blank line) and `body` as bytes. */
export async function rawRequest(baseUrl: string, head: Array<string | Buffer>, body = ''): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  const bytes = Buffer.concat([...head.flatMap((line) => [Buffer.from(line), Buffer.from('\r\n')]), Buffer.from('\r\n'), Buffer.from(body)]);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let received = Buffer.alloc(0);
    let answer: RawAnswer | undefined;
    const finish = (closed: boolean) => {
      if (!answer) return;
      answer.closed = closed;
      resolve(answer);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [statusLine = '', ...headerLines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(headerLines.map((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
      }));
      const text = received.subarray(end + 4).toString('utf8');
      if (Buffer.byteLength(text) < Number(headers['content-length'] ?? 0)) return;
      answer = { status: Number(statusLine.split(' ')[1]), headers, body: text, json: text.startsWith('{') ? JSON.parse(text) : undefined, closed: false };
      // Give the server a moment to close the connection, if it will.
      setTimeout(() => finish(false), 200);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (error) => (answer ? finish(true) : reject(error)));
  });
}

export interface RawExchange {
  /** Every byte the server sent, as text. */
  received: string;
  /** When the server closed the connection, in ms after sending; undefined if it was still open at the deadline. */
  closedAfterMs: number | undefined;
}

/**
 * Sends `bytes` as they are (no HTTP framing added) and records what comes
 * back until the server closes the connection or `deadlineMs` passes: for
 * requests a server may answer, drop, or leave hanging.
 */
export async function rawExchange(baseUrl: string, bytes: string, deadlineMs: number): Promise<RawExchange> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const sentAt = Date.now();
    let received = '';
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    const deadline = setTimeout(() => {
      socket.destroy();
      resolve({ received, closedAfterMs: undefined });
    }, deadlineMs);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve({ received, closedAfterMs: Date.now() - sentAt });
    });
  });
}
