// A light subscriber to one user's events, for crowds (10,000 sockets) and
// long streams (100,000 events): it keeps a tally, not the frames; whenever
// its connection closes, for any reason, it resumes with `after`, as the
// typed client does; and it can read slowly, as a phone on a poor network.

import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { track } from './leaks.js';

export interface StreamTally {
  /** New events, each counted once: those whose seq follows the previous one. */
  received: number;
  /** The seq of the last event received (the `after` to resume from). */
  lastSeq: number;
  /** Events whose seq had been received already. */
  repeated: number;
  /** Events whose seq skipped past the next one. */
  skipped: number;
  /** The close code of each connection it resumed after (with `after`). */
  closeCodes: number[];
  /** performance.now() when the last new event arrived. */
  lastEventAt: number;
}

export interface StreamSubscriber {
  userId: number;
  tally: StreamTally;
  /** Whether exactly `count` events arrived since the subscription: each once, in seq order, none skipped. */
  receivedExactly(count: number): boolean;
  /** From now on reads for `forMs` of every `everyMs`, its TCP socket paused in between (across resumes too). */
  readSlowly(everyMs: number, forMs: number): void;
  close(): Promise<void>;
}

export interface StreamOptions {
  /** The last seq already seen; without it the stream starts after the latest one. */
  after?: number;
  /** Called as each new event arrives. */
  onEvent?(seq: number): void;
}

interface StreamFrame {
  type: string;
  userId?: number;
  seq?: number;
  lastSeq?: number;
  code?: string;
  message?: string;
}

// How long to wait before each attempt to resume; then the stream gives up (and its tally stays short).
const resumeDelaysMs = [20, 100, 250, 500, 1000, 2000, 4000];

/** Subscribes to `userId` through the URL (`?userId=…&after=…`); resolves once the bridge confirms it. */
export async function subscribeToStream(wsUrl: string, userId: number, options: StreamOptions = {}): Promise<StreamSubscriber> {
  const tally: StreamTally = { received: 0, lastSeq: options.after ?? -1, repeated: 0, skipped: 0, closeCodes: [], lastEventAt: 0 };
  let socket: WebSocket | undefined;
  let closing = false;
  let failedResumes = 0;
  let retry: NodeJS.Timeout | undefined;
  let pacing: NodeJS.Timeout | undefined;
  /** While reading slowly: when the current read window ends (performance.now()). */
  let readingUntil = Number.POSITIVE_INFINITY;

  const onEventFrame = (seq: number) => {
    if (seq <= tally.lastSeq) {
      tally.repeated += 1;
      return;
    }
    if (seq === tally.lastSeq + 1) tally.received += 1;
    else tally.skipped += 1;
    tally.lastSeq = seq;
    tally.lastEventAt = performance.now();
    options.onEvent?.(seq);
  };

  const connect = () => new Promise<void>((resolve, reject) => {
    const after = tally.lastSeq >= 0 ? `&after=${tally.lastSeq}` : '';
    const ws = new WebSocket(`${wsUrl}?userId=${userId}${after}`);
    socket = ws;
    let subscribed = false;
    ws.on('message', (data) => {
      // A window's end is also checked here, not only by its timer: one
      // socket's read can bring megabytes the kernel buffered, and a hundred
      // such reads in one turn would block this process (and every other
      // reader's timers) for seconds, stalling the readers that are paused.
      if (performance.now() > readingUntil) ws.pause();
      const frame = JSON.parse(data.toString()) as StreamFrame;
      if (frame.userId !== userId) return;
      if (frame.type === 'earning_update' || frame.type === 'earning_reversed') onEventFrame(frame.seq ?? -1);
      else if (frame.type === 'subscribed') {
        subscribed = true;
        failedResumes = 0;
        if (tally.lastSeq < 0) tally.lastSeq = frame.lastSeq ?? 0;
        resolve();
      } else if (frame.type === 'error' && !subscribed) {
        reject(new Error(`subscribing to user ${userId}: ${frame.code}: ${frame.message}`));
        ws.close();
      }
    });
    ws.on('error', (error) => reject(error));
    ws.on('close', (code) => {
      reject(new Error(`the connection closed (${code}) before the subscription to user ${userId} was confirmed`));
      if (!subscribed || closing) return;
      tally.closeCodes.push(code);
      resume();
    });
  });

  const resume = () => {
    const delay = resumeDelaysMs[failedResumes];
    if (delay === undefined) return;
    failedResumes += 1;
    retry = setTimeout(() => {
      connect().catch(() => {
        if (!closing) resume();
      });
    }, delay);
  };

  await connect();
  const subscriber: StreamSubscriber = {
    userId,
    tally,
    receivedExactly: (count) => tally.received === count && tally.repeated === 0 && tally.skipped === 0,
    readSlowly(everyMs, forMs) {
      clearInterval(pacing);
      readingUntil = 0;
      socket?.pause();
      pacing = setInterval(() => {
        const reading = socket;
        readingUntil = performance.now() + forMs;
        reading?.resume();
        setTimeout(() => reading?.pause(), forMs);
      }, everyMs);
    },
    async close() {
      closing = true;
      clearTimeout(retry);
      clearInterval(pacing);
      readingUntil = Number.POSITIVE_INFINITY;
      if (!socket || socket.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((resolve) => socket?.once('close', resolve));
      socket.resume();
      socket.close();
      await closed;
    },
  };
  track(`a stream subscriber of user ${userId}`, () => !closing, () => subscriber.close());
  return subscriber;
}
