// What the feed reads in a notification on "earnings": carried events, an id
// range, or users; and nothing from a payload it cannot trust, so that the
// feed catches up from the table instead.

import { describe, expect, test } from 'vitest';
import { parseEarningsNotification } from '../bridge/src/feed/notification.js';

const event = (userId: number, seq: number) => `{"type":"earning_update","userId":${userId},"seq":${seq},"note":"a b  c"}`;

describe('parseEarningsNotification', () => {
  test('reads carried events, each line "<user id> <seq> <JSON>", JSON spaces and all', () => {
    expect(parseEarningsNotification(`earnings 7 8 2\n2 11 ${event(2, 11)}\n1 4 ${event(1, 4)}`)).toEqual({
      kind: 'events',
      range: { first: 7, last: 8 },
      events: [{ userId: 2, seq: 11, json: event(2, 11) }, { userId: 1, seq: 4, json: event(1, 4) }],
    });
  });

  test('reads an id range and the users of payout events', () => {
    expect(parseEarningsNotification('{"firstEarningId":5,"lastEarningId":9,"count":5}')).toEqual({ kind: 'range', range: { first: 5, last: 9 } });
    expect(parseEarningsNotification('{"users":[2,5]}')).toEqual({ kind: 'users', users: [2, 5] });
    expect(parseEarningsNotification('{"users":"all"}')).toEqual({ kind: 'users', users: 'all' });
  });

  test.each([
    ['a count that does not match the lines', `earnings 7 8 3\n2 11 ${event(2, 11)}`],
    ['a line without JSON', 'earnings 7 7 1\n2 11'],
    ['a seq that is not a number', `earnings 7 7 1\n2 x ${event(2, 11)}`],
    ['a zero user id', `earnings 7 7 1\n0 11 ${event(0, 11)}`],
    ['a header without ids', `earnings x y 1\n2 11 ${event(2, 11)}`],
    ['JSON that is not an object', 'earnings 7 7 1\n2 11 [1]'],
    ['an unreadable hint', '{"firstEarningId":"5"'],
    ['ids that are not integers', '{"firstEarningId":5.5,"lastEarningId":9}'],
    ['users that are not ids', '{"users":[2,"5"]}'],
  ])('refuses %s', (_name, payload) => {
    expect(parseEarningsNotification(payload)).toBeUndefined();
  });
});
