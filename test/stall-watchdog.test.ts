// The stall watchdog closes a socket with 4008 only when it makes no
// progress for WS_STALL_TIMEOUT_MS: a buffer that shrinks, however slowly, is
// progress, and so is the time the bridge itself was too busy to look (no
// socket can drain while the event loop is blocked). Fake time, fake sockets:
// the rule alone, without a database or a network.

import { pino } from 'pino';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import type { Sql } from '../bridge/src/db.js';
import type { EarningFeed } from '../bridge/src/feed/earning-feed.js';
import { createMetrics } from '../bridge/src/metrics.js';
import { createFlowControl, newFlowState, type FlowControl, type FlowSocket } from '../bridge/src/ws/flow-control.js';
import { closeCodes } from '../bridge/src/ws/protocol.js';

const stallTimeoutMs = 4000;

interface FakeSocket {
  socket: FlowSocket;
  /** Sets what the socket has buffered. */
  buffer(bytes: number): void;
  /** The close code it was ended with, if any. */
  endedWith(): number | undefined;
}

function fakeSocket(bytes: number): FakeSocket {
  let buffered = bytes;
  let ended: number | undefined;
  const socket: FlowSocket = {
    data: { subscriptions: new Map(), closed: false, flow: newFlowState() },
    send: () => undefined,
    bufferedAmount: () => buffered,
    end: (code) => {
      ended = code;
      socket.data.closed = true;
    },
    cork: (fn) => fn(),
  };
  return { socket, buffer: (next) => (buffered = next), endedWith: () => ended };
}

let sockets: FlowSocket[];
let flow: FlowControl;

beforeEach(() => {
  vi.useFakeTimers();
  sockets = [];
  flow = createFlowControl({
    sql: {} as Sql,
    feed: { lastSeq: () => 0 } as unknown as EarningFeed,
    log: pino({ level: 'silent' }),
    metrics: createMetrics(),
    highWaterBytes: 256 * 1024,
    stallTimeoutMs,
    live: new Map(),
    sockets: () => sockets,
  });
});

afterEach(() => {
  flow.stop();
  vi.useRealTimers();
});

test('a socket whose buffer does not shrink is closed with 4008 once the stall timeout has passed, not before', () => {
  const stuck = fakeSocket(100_000);
  sockets.push(stuck.socket);
  vi.advanceTimersByTime(stallTimeoutMs - 1000);
  expect(stuck.endedWith()).toBeUndefined();
  vi.advanceTimersByTime(2000);
  expect(stuck.endedWith()).toBe(closeCodes.stalled);
});

test('a socket whose buffer shrinks by a few bytes a second is never closed for stalling', () => {
  const slow = fakeSocket(100_000);
  sockets.push(slow.socket);
  for (let second = 1; second <= (3 * stallTimeoutMs) / 1000; second++) {
    slow.buffer(100_000 - 10 * second);
    vi.advanceTimersByTime(1000);
  }
  expect(slow.endedWith()).toBeUndefined();
});

test('time the bridge spent too busy to look is not held against a socket; the rule applies again afterwards', () => {
  const stuck = fakeSocket(100_000);
  sockets.push(stuck.socket);
  // The event loop blocked for twice the stall timeout: no timer ran meanwhile.
  vi.setSystemTime(Date.now() + 2 * stallTimeoutMs);
  vi.advanceTimersToNextTimer();
  expect(stuck.endedWith()).toBeUndefined();
  vi.advanceTimersByTime(stallTimeoutMs + 1000);
  expect(stuck.endedWith()).toBe(closeCodes.stalled);
});
