// `npm run watch -- --user 2 [--url ws://localhost:3000/ws] [--token …]`: a
// terminal client in the spirit of the original client.js, on the raw
// WebSocket. Prints each earning, each reversal of one by a refund
// (negative, marked REVERSED) and each payout event (marked PAYOUT), as a
// line with the user's totals as they stood right after it (read from the
// bridge, which computes all money), and reconnects with `after`, so it
// never misses or repeats an event.

import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { createReferralClient, type EarningsSummary, type PayoutEvent, type UserEvent, type WebSocketConstructor } from './client/referral-client.js';

const usage = 'usage: npm run watch -- --user <id> [--url ws://localhost:3000/ws] [--token <jwt>] [--after <seq>]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      user: { type: 'string' },
      url: { type: 'string', default: 'ws://localhost:3000/ws' },
      token: { type: 'string' },
      after: { type: 'string' },
    },
  }).values;
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
const userId = Number(parsed.user);
if (!parsed.user || !/^\d+$/.test(parsed.user) || userId < 1) fail('--user must be a positive user id');
if (parsed.after !== undefined && !/^\d+$/.test(parsed.after)) fail('--after must be a seq number');
let wsUrl: URL;
try {
  wsUrl = new URL(parsed.url);
  if (wsUrl.protocol !== 'ws:' && wsUrl.protocol !== 'wss:') throw new Error();
} catch {
  fail('--url must be the bridge\'s WebSocket URL, such as ws://localhost:3000/ws');
}

const client = createReferralClient({
  baseUrl: `${wsUrl.protocol === 'wss:' ? 'https' : 'http'}://${wsUrl.host}`,
  wsUrl: wsUrl.toString(),
  ...(parsed.token ? { token: parsed.token } : {}),
  WebSocket: WebSocket as unknown as WebSocketConstructor,
});

const totals = (summary: EarningsSummary) =>
  `total ${summary.total} (${summary.levels.map((level) => `L${level.level} ${level.total}`).join(', ')})`;

/** "#6  PAYOUT 1 of 99.99 INR paid (reference TX-1)": a payout moves money between states, never in or out of the total. */
const describePayout = (event: PayoutEvent) =>
  `#${event.seq}  PAYOUT ${event.payoutId} of ${event.amount}${event.currency ? ` ${event.currency}` : ''} ` +
  (event.type === 'payout_created'
    ? 'created (pending)'
    : event.type === 'payout_paid'
      ? `paid (reference ${event.reference})`
      : `${event.status}${event.reason ? `: ${event.reason}` : ''}`);

/** "#4  +10.00  level 1 …" for an earning, "#5  -10.00  REVERSED  level 1 …" for a reversal (its amount is already negative). */
const describeEvent = (event: UserEvent) =>
  event.type !== 'earning_update' && event.type !== 'earning_reversed'
    ? describePayout(event)
    : event.type === 'earning_reversed'
    ? `#${event.seq}  ${event.amount}  REVERSED  level ${event.level} (rate ${event.rate}) from user ${event.fromUserId}, ` +
      `refund ${event.refundId} of ${event.refundAmount} on purchase ${event.purchaseId} of ${event.purchaseAmount}`
    : `#${event.seq}  +${event.amount}  level ${event.level} (rate ${event.rate}) from user ${event.fromUserId}, ` +
      `purchase ${event.purchaseId} of ${event.purchaseAmount}`;

let printing = Promise.resolve();
const subscription = client.subscribe(userId, {
  ...(parsed.after !== undefined ? { after: Number(parsed.after) } : {}),
  onEvent(event) {
    // Lines are printed in seq order even though each waits for the totals.
    printing = printing.then(async () => {
      const summary = await client.summary(userId, event.seq).catch(() => undefined);
      process.stdout.write(`${describeEvent(event)}${summary ? `  →  ${totals(summary)}` : ''}\n`);
    });
  },
  onStatus(status) {
    if (status.state === 'live') process.stderr.write(`watching user ${userId} at ${wsUrl} (last seq ${status.lastSeq}); Ctrl-C to stop\n`);
    if (status.state === 'catching_up') process.stderr.write(`catching up from seq ${status.after + 1}, at this terminal's pace\n`);
    if (status.state === 'reconnecting') process.stderr.write(`connection closed (${status.closeCode}); reconnecting in ${status.inMs} ms\n`);
    if (status.state === 'stopped' && status.error) {
      process.stderr.write(`stopped: ${status.error.code}: ${status.error.message}\n`);
      process.exit(1);
    }
  },
});

process.on('SIGINT', () => {
  subscription.close();
  process.stderr.write(`\nstopped at seq ${subscription.lastSeq}; resume with --after ${subscription.lastSeq}\n`);
  process.exit(0);
});
