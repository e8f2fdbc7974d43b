// Small builders for tests that need their own referral trees in a shared
// database: default ids keep tests in one file out of each other's way.

import type { Sql } from './database.js';

/** Creates a chain root ← … ← last; returns ids from the root down. */
export async function createReferralChain(sql: Sql, length: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < length; i++) {
    const [user] = await sql<{ id: number }[]>`
      INSERT INTO users (name, referred_by) VALUES (${`chain user ${i}`}, ${ids.at(-1) ?? null})
      RETURNING id`;
    ids.push(user!.id);
  }
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

export async function earningsOfPurchase(sql: Sql, purchaseId: string): Promise<EarningRow[]> {
  return sql<EarningRow[]>`
    SELECT user_id AS "userId", source_user_id AS "sourceUserId", level, rate::text, amount::text, seq::int AS seq
    FROM earnings WHERE purchase_id = ${purchaseId} ORDER BY level`;
}

export async function purchase(sql: Sql, userId: number, amount: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO purchases (user_id, amount) VALUES (${userId}, ${amount}) RETURNING id`;
  return row!.id;
}
