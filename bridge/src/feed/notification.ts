// What a notification on the "earnings" channel says (db/migrations 0015,
// 0014): the events themselves, when a statement's fit in one notification;
// else the range of the earning ids a statement added, or the users whose
// payout events are new. Pure: it reads a payload and nothing else. A
// payload it cannot read is undefined, and the feed then catches up from
// the table, which is the record.

import type { EarningEventRecord } from '../earning-events.js';

export interface IdRange {
  first: number;
  last: number;
}

export type EarningsNotification =
  /** The events of one statement, in earning id order, and the ids they span. */
  | { kind: 'events'; events: EarningEventRecord[]; range: IdRange }
  | { kind: 'range'; range: IdRange }
  | { kind: 'users'; users: number[] | 'all' };

const isId = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;

/**
 * "earnings <first id> <last id> <count>" and then one line per event,
 * "<user id> <seq> <event JSON>"; or {"firstEarningId","lastEarningId","count"};
 * or {"users":[2,5]} / {"users":"all"}.
 */
export function parseEarningsNotification(payload: string): EarningsNotification | undefined {
  return payload.startsWith('earnings ') ? parseEvents(payload) : parseJsonHint(payload);
}

function parseEvents(payload: string): EarningsNotification | undefined {
  const [header, ...lines] = payload.split('\n');
  const [, first, last, count] = header!.split(' ').map(Number);
  if (!isId(first) || !isId(last) || count !== lines.length) return undefined;
  const events: EarningEventRecord[] = [];
  for (const line of lines) {
    // The JSON holds no newline (PostgreSQL escapes those in strings) and starts after the second space.
    const userEnd = line.indexOf(' ');
    const seqEnd = line.indexOf(' ', userEnd + 1);
    const userId = Number(line.slice(0, userEnd));
    const seq = Number(line.slice(userEnd + 1, seqEnd));
    const json = line.slice(seqEnd + 1);
    if (userEnd < 0 || seqEnd < 0 || !isId(userId) || !isId(seq) || !json.startsWith('{')) return undefined;
    events.push({ userId, seq, json });
  }
  return { kind: 'events', events, range: { first, last } };
}

function parseJsonHint(payload: string): EarningsNotification | undefined {
  try {
    const { firstEarningId, lastEarningId, users } = JSON.parse(payload) as Record<string, unknown>;
    if (isId(firstEarningId) && isId(lastEarningId)) return { kind: 'range', range: { first: firstEarningId, last: lastEarningId } };
    if (users === 'all') return { kind: 'users', users };
    if (Array.isArray(users) && users.every(isId)) return { kind: 'users', users };
  } catch {
    // unreadable: the caller catches up instead
  }
  return undefined;
}
