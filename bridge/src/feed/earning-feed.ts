// Follows the earnings ledger live and hands each event to one consumer,
// exactly once and in seq order per user. Three parts: the listen connection
// (listen-connection.ts) passes on each notification, which carries a
// statement's events when they fit, else says "something new in these ids"
// (or, for payout events, "for these users") (notification.ts), and says
// "listening again"; the cursors (seq-cursors.ts) know what each user has
// had; the event reader (event-reader.ts) loads pages from the table; this
// module delivers carried events, decides what to load and runs the catch-ups. A NOTIFY can be missed, so a seq gap,
// every (re)connection of the listener and a slow periodic reconcile catch
// up from the cursors.

import type { Sql } from '../db.js';
import { lastSeqOf, lastSeqs, type EarningEventRecord } from '../earning-events.js';
import { describe } from '../failure.js';
import type { Logger } from '../log.js';
import { settleWithin } from '../settle.js';
import { createEventReader } from './event-reader.js';
import { ListenConnection } from './listen-connection.js';
import { parseEarningsNotification, type IdRange } from './notification.js';
import { SeqCursors } from './seq-cursors.js';

export type { EarningEventRecord };

/** Where the feed's events go; set once, when the feed starts. */
export type EarningConsumer = (event: EarningEventRecord) => void;

export interface EarningFeed {
  /** Follows a user (scope "watched"); resolves with the last seq delivered for them. Everything after it will be. */
  watch(userId: number): Promise<number>;
  unwatch(userId: number): void;
  /** The last seq delivered for a followed user. */
  lastSeq(userId: number): number | undefined;
  readonly listening: boolean;
  stop(): Promise<void>;
}

export interface EarningFeedOptions {
  /** Opens the dedicated connection the feed LISTENs on (a new one whenever the old stops hearing its pings). */
  connectListener: () => Sql;
  /** "all": every user's events (for a consumer of every event, such as the earning log); "watched": only users passed to watch(). */
  scope: 'all' | 'watched';
  reconcileEveryMs?: number;
  pingEveryMs?: number;
  onListenerReconnect?: () => void;
  /** Called for each seq gap found in the ledger itself (impossible through SQL). */
  onSeqGap?: () => void;
}

const retryAfterErrorMs = 1000;

/** A feed that follows nothing yet: start() gives it its consumer and starts listening. */
export function createEarningFeed(sql: Sql, log: Logger, options: EarningFeedOptions): EarningFeed & { start(consumer: EarningConsumer): Promise<void> } {
  const cursors = new SeqCursors(options.scope === 'all');
  /** Users being followed whose starting point is still being read. */
  const starting = new Map<number, Promise<number>>();
  /**
   * Work waiting for the drain loop: catch-ups first, then id ranges to
   * load, then events that came in their notification (which need no read).
   */
  const pending = { all: false, users: new Set<number>(), range: undefined as IdRange | undefined, carried: [] as EarningEventRecord[] };
  /** idle: created, nothing delivered; running: delivering; stopped: final. */
  let mode: 'idle' | 'running' | 'stopped' = 'idle';
  let consumer: EarningConsumer | undefined;
  let draining: Promise<void> | undefined;
  let reconcile: NodeJS.Timeout | undefined;
  const { deliverRange, deliverAfterCursors } = createEventReader({
    sql, log, cursors, deliver, running: () => mode === 'running', onSeqGap: options.onSeqGap,
  });

  const listener = new ListenConnection({
    connect: options.connectListener,
    sql,
    log,
    pingEveryMs: options.pingEveryMs ?? 5_000,
    onHint,
    onListening(again) {
      if (again) {
        options.onListenerReconnect?.();
        log.info('listening for earnings again; catching up');
        requestCatchUp('all');
      } else {
        // Nothing to catch up yet: start() reads where each user is once listening,
        // and a user watched before that catches up when the feed starts running.
        log.info('listening for earnings');
      }
    },
  });

  const hasWork = () => pending.all || pending.users.size > 0 || pending.range !== undefined || pending.carried.length > 0;

  function schedule(): void {
    if (draining || mode !== 'running') return;
    draining = drain().finally(() => {
      draining = undefined;
      if (mode === 'running' && hasWork()) schedule();
    });
  }

  async function drain(): Promise<void> {
    try {
      while (mode === 'running' && hasWork()) {
        if (pending.all || pending.users.size > 0) {
          const users = pending.all ? 'all' : [...pending.users];
          pending.all = false;
          pending.users.clear();
          await catchUp(users);
        } else if (pending.range) {
          const range = pending.range;
          pending.range = undefined;
          await deliverRange(range);
        } else {
          const events = pending.carried;
          pending.carried = [];
          // A gap means a notification was missed (or is still being loaded): read from the table.
          const gaps = deliver(events);
          if (gaps.length > 0) await deliverAfterCursors(gaps);
        }
      }
    } catch (error) {
      if (mode !== 'running') return;
      // Whatever was lost is recovered by a catch-up, which needs the database.
      log.warn({ err: describe(error) }, 'earning feed could not load events; catching up shortly');
      pending.range = undefined;
      pending.carried = [];
      setTimeout(() => requestCatchUp('all'), retryAfterErrorMs).unref();
    }
  }

  function requestCatchUp(users: 'all' | number[]): void {
    if (users === 'all') pending.all = true;
    else for (const userId of users) pending.users.add(userId);
    schedule();
  }

  function onHint(payload: string): void {
    const notification = parseEarningsNotification(payload);
    if (!notification) {
      log.warn({ payload }, 'ignoring an unreadable earnings notification; catching up instead');
      requestCatchUp('all');
      return;
    }
    switch (notification.kind) {
      case 'users':
        // Payout events have no earning id: their hint names the users, who catch up by seq.
        requestCatchUp(notification.users === 'all' ? 'all' : notification.users.filter((userId) => cursors.follows(userId)));
        return;
      case 'events':
        for (const event of notification.events) if (cursors.follows(event.userId)) pending.carried.push(event);
        schedule();
        return;
      case 'range': {
        // Hints that arrive while a load runs merge into one range.
        const { range } = notification;
        pending.range = pending.range
          ? { first: Math.min(pending.range.first, range.first), last: Math.max(pending.range.last, range.last) }
          : range;
        schedule();
      }
    }
  }

  async function catchUp(users: 'all' | number[]): Promise<void> {
    const scope = users === 'all' && !cursors.followsAll ? cursors.followed() : users;
    if (scope !== 'all' && scope.length === 0) return;
    const behind = [...(await lastSeqs(sql, scope))]
      .filter(([userId, lastSeq]) => cursors.follows(userId) && lastSeq > (cursors.lastSeq(userId) ?? 0))
      .map(([userId]) => userId);
    if (behind.length > 0) await deliverAfterCursors(behind);
  }

  /** Hands the events that come next to the consumer; returns the users with a seq missing. */
  function deliver(events: EarningEventRecord[]): number[] {
    return cursors.advance(events, (event) => {
      try {
        consumer!(event);
      } catch (error) {
        log.error({ err: describe(error), userId: event.userId, seq: event.seq }, 'earning event consumer failed');
      }
    });
  }

  function watch(userId: number): Promise<number> {
    const known = cursors.lastSeq(userId);
    if (known !== undefined) return Promise.resolve(known);
    const pendingStart = starting.get(userId);
    if (pendingStart) return pendingStart;
    // Compared by identity below: an unwatch and a new watch meanwhile make another start.
    let start: Promise<number> | undefined;
    start = (async () => {
      const lastSeq = await lastSeqOf(sql, userId);
      if (starting.get(userId) === start) {
        starting.delete(userId);
        cursors.follow(userId, lastSeq);
        // Hints that came while the starting point was read were skipped.
        requestCatchUp([userId]);
      }
      return lastSeq;
    })();
    starting.set(userId, start);
    return start;
  }

  return {
    watch,
    unwatch(userId) {
      cursors.unfollow(userId);
      starting.delete(userId);
    },
    lastSeq: (userId) => cursors.lastSeq(userId),
    get listening() {
      return listener.state === 'listening';
    },
    async start(target) {
      if (consumer) throw new Error('the earning feed already has a consumer');
      consumer = target;
      await listener.start();
      // In scope "all", the starting point is every user's current last seq.
      if (cursors.followsAll) for (const [userId, lastSeq] of await lastSeqs(sql, 'all')) cursors.follow(userId, lastSeq);
      mode = 'running';
      schedule();
      reconcile = setInterval(() => requestCatchUp('all'), options.reconcileEveryMs ?? 30_000);
      reconcile.unref();
    },
    async stop() {
      mode = 'stopped';
      clearInterval(reconcile);
      await listener.stop();
      await settleWithin(draining ?? Promise.resolve(), 2000);
    },
  };
}

/** Creates a feed and starts it with its consumer; resolves once it listens and knows where to start. */
export async function startEarningFeed(sql: Sql, log: Logger, consumer: EarningConsumer, options: EarningFeedOptions): Promise<EarningFeed> {
  const feed = createEarningFeed(sql, log, options);
  await feed.start(consumer);
  return feed;
}
