// The earning feed's memory of what it has delivered: for each user it
// follows, the last seq handed on. Pure: it decides which of the events it
// is shown come next, in seq order, and which users have a seq missing; it
// never reads the database and never delivers anything itself.

import type { EarningEventRecord } from '../earning-events.js';

export class SeqCursors {
  private readonly lastDelivered = new Map<number, number>();

  /** @param followsAll true: every user is followed, from seq 0 unless told otherwise. */
  constructor(readonly followsAll: boolean) {}

  follows(userId: number): boolean {
    return this.followsAll || this.lastDelivered.has(userId);
  }

  /** Starts following a user after `lastSeq` (kept if already followed). */
  follow(userId: number, lastSeq: number): void {
    if (!this.lastDelivered.has(userId)) this.lastDelivered.set(userId, lastSeq);
  }

  unfollow(userId: number): void {
    if (!this.followsAll) this.lastDelivered.delete(userId);
  }

  /** The last seq delivered to a followed user (0 for one never delivered to, when following all). */
  lastSeq(userId: number): number | undefined {
    return this.lastDelivered.get(userId) ?? (this.followsAll ? 0 : undefined);
  }

  /** Users with a cursor of their own. */
  followed(): number[] {
    return [...this.lastDelivered.keys()];
  }

  /**
   * Moves each followed user's cursor over the events that come next for
   * it, calling `next` with each event right after its cursor moved (so that
   * lastSeq, read from `next`, is that event's seq). Events already delivered
   * are dropped; once a user's next seq is missing, the rest of that user's
   * events wait. Returns the users whose next seq was missing.
   */
  advance(events: EarningEventRecord[], next: (event: EarningEventRecord) => void): number[] {
    const gaps = new Set<number>();
    for (const event of events) {
      if (gaps.has(event.userId) || !this.follows(event.userId)) continue;
      const lastSeq = this.lastSeq(event.userId) ?? 0;
      if (event.seq <= lastSeq) continue;
      if (event.seq > lastSeq + 1) {
        gaps.add(event.userId);
        continue;
      }
      this.lastDelivered.set(event.userId, event.seq);
      next(event);
    }
    return [...gaps];
  }

  /**
   * Accepts that the seqs between a user's cursor and `nextSeq` do not exist
   * (the ledger itself has a gap): the cursor moves to just before nextSeq.
   * Returns the missing range.
   */
  skipTo(userId: number, nextSeq: number): { from: number; to: number } {
    const from = (this.lastSeq(userId) ?? 0) + 1;
    this.lastDelivered.set(userId, nextSeq - 1);
    return { from, to: nextSeq - 1 };
  }
}
