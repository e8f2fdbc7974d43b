// What the bridge's HTTP API answers, as the client types it: receipts,
// summaries, and the dashboard's reads (docs/openapi.yaml). Every amount is
// an exact decimal string computed by the database.

export interface PurchaseReceipt {
  purchase: { id: number; userId: number; amount: string; createdAt: string; idempotencyKey: string | null };
  earnings: Array<{ userId: number; level: number; rate: string; amount: string; seq: number }>;
}

export interface RefundReceipt {
  refund: { id: number; purchaseId: number; amount: string; reason: string | null; createdAt: string; idempotencyKey: string | null };
  reversals: Array<{ earningId: number; reversesEarningId: number; userId: number; level: number; rate: string; amount: string; seq: number }>;
}

export interface PurchaseDetails {
  purchase: PurchaseReceipt['purchase'];
  refunded: string;
  leftToRefund: string;
  earnings: Array<{ earningId: number; userId: number; level: number; rate: string; amount: string; seq: number }>;
  refunds: RefundReceipt[];
}

export interface EarningsSummary {
  userId: number;
  /** Net of reversals. */
  total: string;
  /** count: the level's credits; reversals: its reversals. */
  levels: Array<{ level: number; total: string; count: number; reversals: number }>;
}

/** One person of a user's downline (GET /api/users/:userId/referrals). */
export interface Referral {
  userId: number;
  name: string | null;
  /** 1: referred by the user; 2: by someone the user referred; … */
  level: number;
  referredBy: number;
  joinedAt: string;
  /** What this person's purchases earned the user, net of reversals. */
  generated: string;
  credits: number;
  reversals: number;
}

export interface Referrals {
  userId: number;
  currency: string;
  referrals: Referral[];
}

/** A user's earnings per UTC day, oldest first, today last (GET /api/users/:userId/earnings/daily). */
export interface DailyEarnings {
  userId: number;
  currency: string;
  days: number;
  from: string;
  to: string;
  daily: Array<{ date: string; credits: string; reversals: string; net: string; events: number }>;
}

export interface ProgramFigure {
  total: string;
  count: number;
  /** What the last hour added. */
  lastHour: string;
  lastHourCount: number;
}

/** The whole program's money, and the last hour's share of it (GET /api/program/totals). */
export interface ProgramTotals {
  currency: string;
  asOf: string;
  purchases: ProgramFigure;
  earnings: ProgramFigure;
  /** Negative. */
  reversals: ProgramFigure;
  paid: ProgramFigure;
  /** Earned, net of reversals, not yet paid; lastHour is its change. */
  owed: { total: string; lastHour: string };
}

export interface TopReferrers {
  currency: string;
  /** The start of this calendar month (UTC). */
  from: string;
  asOf: string;
  referrers: Array<{ userId: number; name: string | null; earned: string; credits: number; reversals: number }>;
}

export interface OutboxDepth {
  depth: Array<{ status: string; count: number }>;
}

/** A WhatsApp message to the user and its delivery status (GET /api/users/:userId/notifications). */
export interface Notification {
  id: number;
  /** The earning or reversal it is about; null for a paid payout's message. */
  earningId: number | null;
  payoutId: number | null;
  status: 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'undeliverable' | 'skipped';
  attempts: number;
  twilioSid: string | null;
  lastErrorCode: string | null;
  variables: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}
