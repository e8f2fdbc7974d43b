// The earning feed's cursors, without a database: each user's events are
// handed on once, in seq order, and a missing seq holds that user back until
// it is found or known to be missing from the ledger itself.

import { describe, expect, test } from 'vitest';
import { SeqCursors } from '../bridge/src/feed/seq-cursors.js';

const event = (userId: number, seq: number) => ({ userId, seq, json: `{"userId":${userId},"seq":${seq}}` });
const seqsOf = (events: Array<{ userId: number; seq: number }>) => events.map(({ userId, seq }) => `${userId}#${seq}`);

/** The events advance hands on, in order, and the users it reports with a seq missing. */
function advance(cursors: SeqCursors, events: Array<{ userId: number; seq: number; json: string }>) {
  const ready: typeof events = [];
  const gaps = cursors.advance(events, (event) => ready.push(event));
  return { ready, gaps };
}

describe('following some users', () => {
  test('hands on the next seqs of followed users only, in the order given', () => {
    const cursors = new SeqCursors(false);
    cursors.follow(2, 0);
    cursors.follow(5, 3);
    const { ready, gaps } = advance(cursors, [event(2, 1), event(7, 1), event(5, 4), event(2, 2), event(5, 5)]);
    expect(seqsOf(ready)).toEqual(['2#1', '5#4', '2#2', '5#5']);
    expect(gaps).toEqual([]);
    expect([cursors.lastSeq(2), cursors.lastSeq(5), cursors.lastSeq(7)]).toEqual([2, 5, undefined]);
  });

  test('drops what was delivered already, so a replayed range delivers nothing twice', () => {
    const cursors = new SeqCursors(false);
    cursors.follow(2, 0);
    advance(cursors, [event(2, 1), event(2, 2)]);
    expect(seqsOf(advance(cursors, [event(2, 1), event(2, 2), event(2, 3)]).ready)).toEqual(['2#3']);
  });

  test('a missing seq holds that user back, reports it, and leaves other users alone', () => {
    const cursors = new SeqCursors(false);
    cursors.follow(2, 0);
    cursors.follow(3, 0);
    const { ready, gaps } = advance(cursors, [event(2, 1), event(2, 3), event(3, 1), event(2, 4)]);
    expect(seqsOf(ready)).toEqual(['2#1', '3#1']);
    expect(gaps).toEqual([2]);
    expect(cursors.lastSeq(2)).toBe(1);
    // Once the missing event is found, the user goes on in order.
    expect(seqsOf(advance(cursors, [event(2, 2), event(2, 3), event(2, 4)]).ready)).toEqual(['2#2', '2#3', '2#4']);
  });

  test('each event is handed on after its own cursor moved, not after the whole batch', () => {
    const cursors = new SeqCursors(false);
    cursors.follow(2, 0);
    const seenWhileHandedOn: Array<number | undefined> = [];
    cursors.advance([event(2, 1), event(2, 2), event(2, 3)], () => seenWhileHandedOn.push(cursors.lastSeq(2)));
    expect(seenWhileHandedOn).toEqual([1, 2, 3]);
  });

  test('skipping a gap the ledger itself has moves the cursor to just before the next seq there is', () => {
    const cursors = new SeqCursors(false);
    cursors.follow(2, 1);
    expect(advance(cursors, [event(2, 5)]).gaps).toEqual([2]);
    expect(cursors.skipTo(2, 5)).toEqual({ from: 2, to: 4 });
    expect(seqsOf(advance(cursors, [event(2, 5), event(2, 6)]).ready)).toEqual(['2#5', '2#6']);
  });

  test('following keeps an existing cursor, and unfollowing forgets it', () => {
    const cursors = new SeqCursors(false);
    cursors.follow(2, 4);
    cursors.follow(2, 0);
    expect(cursors.lastSeq(2)).toBe(4);
    cursors.unfollow(2);
    expect([cursors.follows(2), cursors.lastSeq(2), cursors.followed()]).toEqual([false, undefined, []]);
  });
});

describe('following every user', () => {
  test('a user never seen before starts at seq 1, and unfollowing changes nothing', () => {
    const cursors = new SeqCursors(true);
    cursors.follow(2, 7);
    expect(seqsOf(advance(cursors, [event(9, 1), event(2, 8)]).ready)).toEqual(['9#1', '2#8']);
    cursors.unfollow(2);
    expect([cursors.follows(2), cursors.lastSeq(2), cursors.lastSeq(11)]).toEqual([true, 8, 0]);
  });
});
