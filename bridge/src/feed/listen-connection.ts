// The earning feed's LISTEN connection, and nothing else: it listens on the
// "earnings" channel, hands each notification on as a hint, and checks
// itself by pinging through the database on a private channel. A NOTIFY is
// only ever a latency hint (the table is the record), so all this object owes
// the feed is to say when it is listening (again): then the feed catches up.
//
// States, changed only through setState:
//   connecting → listening   the LISTEN was confirmed (postgres.js confirms
//                            again after reconnecting by itself)
//   listening, connecting → lost   a ping went unheard
//   lost       → connecting  a new connection is opened, the old one dropped
//   any        → stopped     stop(); final

import { randomBytes } from 'node:crypto';
import type { Sql } from '../db.js';
import { describe } from '../failure.js';
import type { Logger } from '../log.js';
import { settleWithin } from '../settle.js';

export type ListenState = 'connecting' | 'listening' | 'lost' | 'stopped';

/** For each state, the states it may be entered from. */
const allowedFrom: Record<ListenState, ListenState[]> = {
  connecting: ['lost'],
  // Again from listening: postgres.js confirms once more after reconnecting by itself.
  listening: ['connecting', 'listening', 'lost'],
  lost: ['listening', 'connecting'],
  stopped: ['connecting', 'listening', 'lost'],
};

const pingTimeoutMs = 3000;

export interface ListenConnectionOptions {
  /** Opens a dedicated connection to LISTEN on. */
  connect: () => Sql;
  /** Sends the pings (any pool but the listening connection). */
  sql: Sql;
  log: Logger;
  onHint: (payload: string) => void;
  /** Each time the LISTEN is confirmed; `again` after the first time. */
  onListening: (again: boolean) => void;
  pingEveryMs: number;
}

export class ListenConnection {
  private current: ListenState = 'connecting';
  private connection: Sql;
  private everListened = false;
  private pinging = false;
  private awaitedPing: { nonce: string; heard: () => void } | undefined;
  private readonly pingChannel = `earnings_ping_${randomBytes(6).toString('hex')}`;
  private pings: NodeJS.Timeout | undefined;

  constructor(private readonly options: ListenConnectionOptions) {
    this.connection = options.connect();
  }

  get state(): ListenState {
    return this.current;
  }

  private get stopped(): boolean {
    return this.current === 'stopped';
  }

  /** Resolves once the first LISTEN is confirmed; then pings every pingEveryMs. */
  async start(): Promise<void> {
    await this.listen();
    this.pings = setInterval(() => void this.ping(), this.options.pingEveryMs);
    this.pings.unref();
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    clearInterval(this.pings);
    await this.close();
  }

  private setState(next: ListenState): void {
    if (this.current === 'stopped') return;
    if (!allowedFrom[next].includes(this.current)) {
      throw new Error(`listen connection: no transition from ${this.current} to ${next}`);
    }
    this.current = next;
  }

  private async listen(): Promise<void> {
    await this.connection.listen('earnings', this.options.onHint, () => {
      if (this.stopped) return;
      this.setState('listening');
      this.options.onListening(this.everListened);
      this.everListened = true;
    });
    await this.connection.listen(this.pingChannel, (nonce) => {
      if (this.awaitedPing?.nonce === nonce) this.awaitedPing.heard();
    });
  }

  /** Closes the connection (bounded: the database may be gone). */
  private async close(): Promise<void> {
    await settleWithin(this.connection.end({ timeout: 1 }), 2000);
  }

  /** Pings itself; a ping not heard in time means the connection is lost, and a new one listens. */
  private async ping(): Promise<void> {
    if (this.pinging || this.stopped) return;
    this.pinging = true;
    try {
      if (await this.heardOwnPing()) return;
      if (this.stopped) return;
      if (this.current !== 'lost') {
        this.setState('lost');
        this.options.log.warn('the earnings listener did not hear its own ping; listening again on a new connection');
      }
      await this.close();
      this.setState('connecting');
      this.connection = this.options.connect();
      await this.listen();
    } catch (error) {
      if (!this.stopped) {
        if (this.current !== 'lost') this.setState('lost');
        this.options.log.warn({ err: describe(error) }, 'cannot listen for earnings; trying again at the next ping');
      }
    } finally {
      this.pinging = false;
    }
  }

  private async heardOwnPing(): Promise<boolean> {
    const nonce = randomBytes(6).toString('hex');
    const heard = new Promise<boolean>((resolve) => {
      this.awaitedPing = { nonce, heard: () => resolve(true) };
      setTimeout(() => resolve(false), pingTimeoutMs).unref();
    });
    // While the database refuses connections a query can wait for one far
    // longer than a ping may take: that counts as not heard.
    const sent = this.options.sql`SELECT pg_notify(${this.pingChannel}, ${nonce})`.then(() => heard, () => false);
    return Promise.race([sent, heard]);
  }
}
