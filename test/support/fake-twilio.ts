// A local stand-in for Twilio's Messages API: records every request and
// answers as each test scripts it (success, an error, a body that is not
// JSON, a late answer, silence, or a connection dropped after the request).

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { track } from './leaks.js';

export interface TwilioRequest {
  path: string;
  authorization: string;
  contentType: string;
  params: Record<string, string>;
  at: number;
}

export type TwilioAnswer =
  | {
      status: number;
      /** An object is sent as JSON; a string as it is, with `contentType`. */
      body: Record<string, unknown> | string;
      contentType?: string;
      /** Answers this long after the request arrived (a slow Twilio). */
      delayMs?: number;
    }
  | 'hang'
  | 'drop';

export interface FakeTwilio {
  url: string;
  requests: TwilioRequest[];
  /** Decides each answer; by default every message is accepted. */
  answer: (request: TwilioRequest, index: number) => TwilioAnswer;
  close(): Promise<void>;
}

export const accepted = (): TwilioAnswer => ({
  status: 201,
  body: { sid: `SM${randomBytes(16).toString('hex')}`, status: 'queued' },
});

export const twilioError = (status: number, code: number, message: string): TwilioAnswer => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

function notStarted(): FakeTwilio {
  return { url: '', requests: [], answer: () => accepted(), close: async () => undefined };
}

/** Starts serving; `fake` (the state the server reads and records into) may be made beforehand. */
export async function startFakeTwilio(fake: FakeTwilio = notStarted()): Promise<FakeTwilio> {
  const sockets = new Set<Socket>();
  let closed = false;
  fake.close = async () => {
    closed = true;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const request: TwilioRequest = {
        path: req.url ?? '',
        authorization: req.headers.authorization ?? '',
        contentType: req.headers['content-type'] ?? '',
        params: Object.fromEntries(new URLSearchParams(body)),
        at: Date.now(),
      };
      fake.requests.push(request);
      const answer = fake.answer(request, fake.requests.length - 1);
      if (answer === 'hang') return;
      if (answer === 'drop') {
        req.socket.destroy();
        return;
      }
      const respond = () => {
        res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
        res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      };
      if (answer.delayMs) setTimeout(respond, answer.delayMs).unref();
      else respond();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  track(`a fake Twilio at ${fake.url}`, () => !closed, () => fake.close());
  return fake;
}

/** A fake Twilio for this test file, started before its tests and closed after them. */
export function useFakeTwilio(): FakeTwilio {
  const fake = notStarted();
  beforeAll(async () => {
    await startFakeTwilio(fake);
  });
  afterAll(async () => {
    await fake.close();
  });
  return fake;
}
