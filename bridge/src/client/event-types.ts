// The events of a user's seq stream as the client sees them: credits,
// reversals (docs/events.md) and the payout events (payout-types.ts).

import type { PayoutEvent } from './payout-types.js';

/** A credit: a purchase earned the user `amount` (docs/events.md). */
export interface EarningUpdate {
  type: 'earning_update';
  userId: number;
  seq: number;
  earningId: number;
  purchaseId: number;
  fromUserId: number;
  level: number;
  rate: string;
  amount: string;
  purchaseAmount: string;
  createdAt: string;
}

/** A reversal: a refund took back part or all of earning reversesEarningId; `amount` is negative. */
export interface EarningReversed {
  type: 'earning_reversed';
  userId: number;
  seq: number;
  earningId: number;
  reversesEarningId: number;
  refundId: number;
  purchaseId: number;
  fromUserId: number;
  level: number;
  rate: string;
  amount: string;
  refundAmount: string;
  purchaseAmount: string;
  createdAt: string;
}

/** The events that change the user's total: summing their `amount` gives it. */
export type EarningEvent = EarningUpdate | EarningReversed;

/** Every event of a user's seq stream (docs/events.md). */
export type UserEvent = EarningEvent | PayoutEvent;

