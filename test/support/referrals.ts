// Small builders for tests that need their own referral trees in a shared
// database: every user gets a fresh id, so tests in one file stay out of each
// other's way.

import type { Sql } from './database.js';
import { onlyRow } from './rows.js';

/** Inserts a user referred by `referredBy` (by nobody when null); returns the new id. */
export async function createUser(sql: Sql, referredBy: number | null = null): Promise<number> {
  return onlyRow(await sql<{ id: number }[]>`INSERT INTO users (referred_by) VALUES (${referredBy}) RETURNING id`).id;
}

export interface BuyerWithReferrer {
  referrer: number;
  buyer: number;
}

export interface BuyerWithTwoReferrers extends BuyerWithReferrer {
  /** The referrer's referrer, referred by nobody. */
  root: number;
}

/** referrer ← buyer: the buyer's purchases credit the referrer at level 1, and nobody at level 2. */
export async function createBuyerWithReferrer(sql: Sql): Promise<BuyerWithReferrer> {
  const referrer = await createUser(sql);
  return { referrer, buyer: await createUser(sql, referrer) };
}

/** root ← referrer ← buyer: the buyer's purchases credit the referrer at level 1 and the root at level 2. */
export async function createBuyerWithTwoReferrers(sql: Sql): Promise<BuyerWithTwoReferrers> {
  const root = await createUser(sql);
  const referrer = await createUser(sql, root);
  return { root, referrer, buyer: await createUser(sql, referrer) };
}

/** Creates a chain root ← … ← last; returns ids from the root down (the builders above name what they return). */
export async function createReferralChain(sql: Sql, length: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < length; i++) ids.push(await createUser(sql, ids.at(-1) ?? null));
  return ids;
}

export interface EarningRow {
  userId: number;
  sourceUserId: number;
  level: number;
  rate: string;
  amount: string;
  seq: number;
}

/** A purchase's earnings, level 1 first. */
export async function earningsOfPurchase(sql: Sql, purchaseId: string): Promise<EarningRow[]> {
  return sql<EarningRow[]>`
    SELECT user_id AS "userId", source_user_id AS "sourceUserId", level, rate::text, amount::text, seq::int AS seq
    FROM earnings WHERE purchase_id = ${purchaseId} ORDER BY level`;
}

/** Inserts a purchase with plain SQL; returns its id. */
export async function purchase(sql: Sql, userId: number, amount: string): Promise<string> {
  return onlyRow(await sql<{ id: string }[]>`
    INSERT INTO purchases (user_id, amount) VALUES (${userId}, ${amount}) RETURNING id`).id;
}
