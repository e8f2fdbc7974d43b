// The referral tree stays a tree: nobody refers themselves, no cycles, and
// the database says which ids were involved. (Concurrent changes: see
// referral-tree-races.test.ts.)

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithTwoReferrers, createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();

describe('the referral tree', () => {
  test('a user who refers themselves is refused, naming the user', async () => {
    await expect(db.sql`INSERT INTO users (id, name, referred_by) VALUES (900, 'self', 900)`).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'users_referred_by_is_not_self',
      message: 'user 900 cannot be their own referrer',
    });
    const user = await createUser(db.sql);
    await expect(db.sql`UPDATE users SET referred_by = id WHERE id = ${user}`).rejects.toMatchObject({
      code: '23514',
      message: `user ${user} cannot be their own referrer`,
    });
    expect(await db.sql`SELECT 1 FROM users WHERE id = 900 OR (id = ${user} AND referred_by IS NOT NULL)`).toHaveLength(0);
  });

  test('a referral cycle is refused, naming every user on it', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    await expect(db.sql`UPDATE users SET referred_by = ${buyer} WHERE id = ${root}`).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'users_referral_is_acyclic',
      message: `user ${root} cannot be referred by user ${buyer}: that would close a referral cycle (${root} → ${buyer} → ${referrer} → ${root}, each referred by the next)`,
    });
    const { referredBy } = onlyRow(await db.sql<{ referredBy: number | null }[]>`SELECT referred_by AS "referredBy" FROM users WHERE id = ${root}`);
    expect(referredBy).toBeNull();
  });

  test('a cycle inside one multi-row INSERT with explicit ids is refused too', async () => {
    await expect(db.sql`INSERT INTO users (id, referred_by) VALUES (920, 921), (921, 920)`).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'users_referral_is_acyclic',
      message: 'user 921 cannot be referred by user 920: that would close a referral cycle (921 → 920 → 921, each referred by the next)',
    });
    expect(await db.sql`SELECT 1 FROM users WHERE id IN (920, 921)`).toHaveLength(0);
  });

  test('phone numbers are E.164 (+ and 8 to 15 digits) or NULL', async () => {
    const user = onlyRow(await db.sql<{ id: number }[]>`INSERT INTO users (name, phone_number) VALUES ('p', '+4915112345678') RETURNING id`);
    expect(user.id).toBeGreaterThan(0);
    await expect(db.sql`INSERT INTO users (name, phone_number) VALUES ('q', NULL) RETURNING id`).resolves.toHaveLength(1);
    for (const bad of ['015112345678', '+49 151 1234', '+1234567', '+1234567890123456', '+0123456789', 'whatsapp:+4915112345678']) {
      await expect(db.sql`INSERT INTO users (name, phone_number) VALUES ('bad', ${bad})`).rejects.toMatchObject({
        code: '23514',
        constraint_name: 'users_phone_number_is_e164',
      });
    }
  });
});
