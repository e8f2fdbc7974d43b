// The client's types for the commission lifecycle: payout events on a
// user's seq stream, balances by state, payouts and the program's settings
// (docs/events.md, docs/openapi.yaml).

interface PayoutEventFields {
  userId: number;
  seq: number;
  payoutId: number;
  /** The payout's amount, whole cents; it moves between balance states and never changes the total. */
  amount: string;
  currency: string;
  createdAt: string;
}

/** A payout was created: `amount` left available and is in payout. */
export interface PayoutCreated extends PayoutEventFields {
  type: 'payout_created';
  status: 'pending';
}

/** The payout was paid, by the transfer `reference`. */
export interface PayoutPaid extends PayoutEventFields {
  type: 'payout_paid';
  status: 'paid';
  reference: string;
}

/** The payout failed, or was canceled: `amount` is available again. */
export interface PayoutFailed extends PayoutEventFields {
  type: 'payout_failed' | 'payout_canceled';
  status: 'failed' | 'canceled';
  reason: string | null;
}

export type PayoutEvent = PayoutCreated | PayoutPaid | PayoutFailed;

/** A user's money by state (GET /api/users/:userId/balance); pending + available + inPayout + paid = total. */
export interface Balance {
  userId: number;
  currency: string;
  pending: string;
  /** Negative after a refund took back a commission already paid out (a clawback). */
  available: string;
  inPayout: string;
  paid: string;
  total: string;
  /** When the earliest pending money becomes available; null when nothing is pending. */
  nextAvailableAt: string | null;
  asOf: string;
}

export interface Payout {
  id: number;
  userId: number;
  amount: string;
  currency: string;
  status: 'pending' | 'paid' | 'failed' | 'canceled';
  reference: string | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  paidAt: string | null;
}

export interface ProgramSettings {
  /** An ISO 8601 duration, e.g. "P30D". */
  holdingPeriod: string;
  minimumPayout: string;
  minimumPurchaseAmount: string;
  currency: string;
  updatedAt: string;
}

