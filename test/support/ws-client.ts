// A WebSocket client for tests (the ws package), recording every frame.

import WebSocket from 'ws';
import { track } from './leaks.js';
import { waitFor } from './wait.js';

export interface Frame {
  type: string;
  [key: string]: unknown;
}

export interface TestClient {
  socket: WebSocket;
  frames: Frame[];
  /** earning_update frames only. */
  events(): Array<Frame & { userId: number; seq: number }>;
  send(message: unknown): void;
  waitForFrame(description: string, match: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  waitForEvents(count: number, timeoutMs?: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export async function connectClient(url: string): Promise<TestClient> {
  const socket = new WebSocket(url);
  const frames: Frame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  track(`a WebSocket client of ${url}`, () => socket.readyState !== WebSocket.CLOSED, async () => {
    socket.terminate();
    await closed;
  });
  const events = () => frames.filter((frame): frame is Frame & { userId: number; seq: number } => frame.type === 'earning_update');
  return {
    socket,
    frames,
    events,
    send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
    waitForFrame: (description, match, timeoutMs) => waitFor(description, () => frames.find(match), timeoutMs),
    waitForEvents: async (count, timeoutMs) => {
      await waitFor(`${count} earning events`, () => events().length >= count, timeoutMs);
    },
    closed,
    async close() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
      await closed;
    },
  };
}

/** Connects and subscribes; resolves once the subscription is confirmed. */
export async function subscribedClient(url: string, userId: number, options: { after?: number; token?: string } = {}): Promise<TestClient> {
  const client = await connectClient(url);
  client.send({ type: 'subscribe', userId, ...options });
  await client.waitForFrame(`subscribed to ${userId}`, (frame) => frame.type === 'subscribed' && frame.userId === userId);
  return client;
}

/** The seqs of the earning_update events a client received for a user, in the order they arrived. */
export function seqsOf(client: TestClient, userId: number): number[] {
  return client.events().filter((event) => event.userId === userId).map((event) => event.seq);
}

export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
