// Reads earning events from the table for the feed, a page at a time, and
// hands each page to the cursors: an id range a notification named, or
// every event after some users' cursors (a catch-up, or a gap to fill).
// Memory stays bounded whatever one statement wrote; a gap in the table
// itself (impossible through SQL) is reported and skipped, never waited on.

import type { Sql } from '../db.js';
import { eventsAfterEach, eventsInIdRange, type EarningEventRecord } from '../earning-events.js';
import type { Logger } from '../log.js';
import type { IdRange } from './notification.js';
import type { SeqCursors } from './seq-cursors.js';

/** Events read from the table at a time. */
export const readPage = 25_000;

export interface EventReaderParts {
  sql: Sql;
  log: Logger;
  cursors: SeqCursors;
  /** Hands events that come next to the consumer; returns the users with a seq missing. */
  deliver: (events: EarningEventRecord[]) => number[];
  /** False once the feed stops: a read in progress ends after its page. */
  running: () => boolean;
  onSeqGap?: (() => void) | undefined;
}

export interface EventReader {
  /** Delivers the followed users' events with ids in the range; a seq gap in it is read from the cursors. */
  deliverRange(range: IdRange): Promise<void>;
  /** Delivers everything after each user's cursor. */
  deliverAfterCursors(userIds: number[]): Promise<void>;
}

export function createEventReader({ sql, log, cursors, deliver, running, onSeqGap }: EventReaderParts): EventReader {
  async function deliverRange(range: IdRange): Promise<void> {
    const users = cursors.followsAll ? 'all' : cursors.followed();
    for (let first = range.first; first <= range.last && running(); first += readPage) {
      const events = await eventsInIdRange(sql, first, Math.min(range.last, first + readPage - 1), users);
      // A gap in a hint's range means a hint was missed: load from the table.
      const gaps = deliver(events);
      if (gaps.length > 0) await deliverAfterCursors(gaps);
    }
  }

  async function deliverAfterCursors(userIds: number[]): Promise<void> {
    // A full page may have stopped short of some user's last event: read on
    // from the cursors until a page is not full.
    for (let full = true; full && running();) {
      // Only users still followed: one unwatched meanwhile has no cursor to move.
      const followed = userIds.filter((userId) => cursors.follows(userId));
      if (followed.length === 0) return;
      const events = await eventsAfterEach(sql, followed.map((userId) => ({ userId, after: cursors.lastSeq(userId)! })), readPage);
      full = events.length === readPage;
      for (let gaps = deliver(events); gaps.length > 0; gaps = deliver(events)) skipGaps(gaps, events);
    }
  }

  /** A gap in the table itself: say so, and go on from the next seq there is. */
  function skipGaps(userIds: number[], events: EarningEventRecord[]): void {
    for (const userId of userIds) {
      const lastSeq = cursors.lastSeq(userId) ?? 0;
      const next = events.find((event) => event.userId === userId && event.seq > lastSeq)!;
      const missingSeqs = cursors.skipTo(userId, next.seq);
      log.error({ userId, missingSeqs }, 'earnings ledger has a seq gap; this should be impossible; delivering from the next seq');
      onSeqGap?.();
    }
  }

  return { deliverRange, deliverAfterCursors };
}
