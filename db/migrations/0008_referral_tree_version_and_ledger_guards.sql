-- Two holes in rules that 0001-0004 meant to keep.
--
-- A referral cycle could commit at REPEATABLE READ: 0001's advisory lock made
-- two changes of referrer take turns, but the second walked the tree in the
-- snapshot it had taken before its turn, so each transaction closed half of a
-- cycle and both committed. Now every statement that may change the tree
-- first bumps one row, referral_tree_version, and holds its lock until commit.
-- At READ COMMITTED a second statement waits for the first to commit, then
-- walks the tree as committed (each query of a trigger takes a new snapshot).
-- At REPEATABLE READ and SERIALIZABLE, a bump of a row changed after the
-- transaction's snapshot fails with SQLSTATE 40001 ("could not serialize
-- access due to concurrent update"): nothing is written, and the caller runs
-- the transaction again. Inserts bump it too: user 9 inserted as referred by
-- 5 while another transaction makes 5 referred by 9 closes a cycle the
-- second's walk cannot see, and at READ COMMITTED its foreign-key check (run
-- after the walk, with a newer snapshot) could see user 9 committed between
-- the two. The price: inserts of users and changes of referrer take turns,
-- and at REPEATABLE READ and above the later of two concurrent ones fails, to be run again.
--
-- The ledger could be damaged by hand: TRUNCATE emptied it, a raised
-- earning_sequences.last_seq left a seq gap that live subscribers wait at
-- forever, a deleted counter made every later credit of its user fail, and a
-- purchase that credited nobody could be deleted or renumbered. Each is now
-- refused with restrict_violation and a hint, as hand edits of earnings
-- already were. And new idempotency keys must be visible ASCII.

-- Up Migration

-- The referral tree's version: one row, whose row lock is the tree's turn.
CREATE TABLE referral_tree_version (
  one_row boolean PRIMARY KEY DEFAULT true CONSTRAINT referral_tree_version_has_one_row CHECK (one_row),
  version bigint NOT NULL DEFAULT 1
);

INSERT INTO referral_tree_version DEFAULT VALUES;

-- Rule: a statement that may change the referral tree first bumps the tree's
-- version. An upsert, so that a deleted row comes back rather than silently
-- letting changes stop taking turns.
CREATE FUNCTION tg_users__bump_referral_tree_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO referral_tree_version AS tree (one_row) VALUES (true)
  ON CONFLICT (one_row) DO UPDATE SET version = tree.version + 1;
  RETURN NULL;
END;
$$;

-- Once per statement (a bulk insert bumps once), before any row trigger walks
-- the tree.
CREATE TRIGGER tg_users__bump_referral_tree_version
  BEFORE INSERT OR UPDATE OF id, referred_by ON users
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_users__bump_referral_tree_version();

-- Rule: a user's referrer is never the user, directly or through others.
-- As in 0001, less its advisory lock: the tree's version, bumped before this
-- runs, makes concurrent changes take turns at every isolation level.
CREATE OR REPLACE FUNCTION tg_users__forbid_referral_cycle() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  cycle text;
BEGIN
  IF NEW.referred_by = NEW.id THEN
    RAISE EXCEPTION 'user % cannot be their own referrer', NEW.id
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'users_referred_by_is_not_self',
            HINT = 'Set referred_by to another user''s id, or to NULL for a user nobody referred.';
  END IF;

  WITH RECURSIVE chain (user_id, path) AS (
      SELECT NEW.referred_by, ARRAY[NEW.id, NEW.referred_by]
    UNION ALL
      SELECT referrer.referred_by, chain.path || referrer.referred_by
      FROM chain
      JOIN users referrer ON referrer.id = chain.user_id
      WHERE referrer.referred_by IS NOT NULL
        AND chain.user_id <> NEW.id
        AND referrer.referred_by <> ALL (chain.path[2:])
  )
  SELECT array_to_string(path, ' → ') INTO cycle
  FROM chain
  WHERE user_id = NEW.id
  LIMIT 1;

  IF cycle IS NOT NULL THEN
    RAISE EXCEPTION 'user % cannot be referred by user %: that would close a referral cycle (%, each referred by the next)',
        NEW.id, NEW.referred_by, cycle
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'users_referral_is_acyclic',
            HINT = 'A referrer must not be one of the people the user referred, directly or indirectly.';
  END IF;

  RETURN NEW;
END;
$$;

-- Rule: the ledger's tables are never truncated, nor is users, which every
-- one of them refers to. TRUNCATE fires no row or DELETE triggers, only these;
-- a TRUNCATE ... CASCADE fires those of every table it reaches, in the order
-- named first, so TRUNCATE users CASCADE is refused as users.
CREATE FUNCTION tg__forbid_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% cannot be truncated', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation',
          HINT = 'The earnings ledger is append-only and refers to its users. To start afresh, create a new database and run the migrations.';
END;
$$;

CREATE TRIGGER tg_users__forbid_truncate
  BEFORE TRUNCATE ON users
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

CREATE TRIGGER tg_purchases__forbid_truncate
  BEFORE TRUNCATE ON purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

CREATE TRIGGER tg_earnings__forbid_truncate
  BEFORE TRUNCATE ON earnings
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

CREATE TRIGGER tg_earning_sequences__forbid_truncate
  BEFORE TRUNCATE ON earning_sequences
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

-- Rule: earning_sequences is written only by the ledger's triggers (today the
-- purchases trigger, whose INSERT ... ON CONFLICT DO UPDATE fires both the
-- INSERT and the UPDATE trigger, from inside a trigger), never by hand.
CREATE FUNCTION tg_earning_sequences__only_from_the_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'earning_sequences cannot be inserted or updated directly'
      USING ERRCODE = 'restrict_violation',
            HINT = 'Each row is the last seq handed out to a user, and the next earning of that user takes the next one. Insert a purchase; its trigger keeps the counters.';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_earning_sequences__only_from_the_ledger
  BEFORE INSERT OR UPDATE ON earning_sequences
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_earning_sequences__only_from_the_ledger();

-- Rule: a user's seq counter is never deleted: the user's next earning would
-- take a seq the user already has, and every purchase crediting them fail.
CREATE FUNCTION tg_earning_sequences__forbid_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'earning_sequences cannot be deleted'
    USING ERRCODE = 'restrict_violation',
          HINT = 'Each row is the last seq handed out to a user, and the next earning of that user continues from it. Leave the counters to the purchases trigger.';
END;
$$;

CREATE TRIGGER tg_earning_sequences__forbid_delete
  BEFORE DELETE ON earning_sequences
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_earning_sequences__forbid_delete();

-- Rule: a purchase is never deleted: it is a fact, and its earnings (if its
-- buyer had referrers) were credited from it.
CREATE FUNCTION tg_purchases__forbid_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'purchases cannot be deleted'
    USING ERRCODE = 'restrict_violation',
          HINT = 'A purchase is a fact its earnings were credited from, and the ledger is append-only. To start afresh, create a new database and run the migrations.';
END;
$$;

CREATE TRIGGER tg_purchases__forbid_delete
  BEFORE DELETE ON purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchases__forbid_delete();

-- Rule: a purchase keeps its id and its time, as 0002 keeps its buyer and
-- amount: earnings, events, receipts and WhatsApp messages name it by id. Its
-- idempotency_key may still change, e.g. be cleared when it expires.
CREATE FUNCTION tg_purchases__forbid_changing_id_or_created_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'purchases cannot change their id or created_at once inserted'
    USING ERRCODE = 'restrict_violation',
          HINT = 'Earnings, events and receipts refer to the purchase as it was inserted. Record a new purchase instead.';
END;
$$;

CREATE TRIGGER tg_purchases__forbid_changing_id_or_created_at
  BEFORE UPDATE OF id, created_at ON purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchases__forbid_changing_id_or_created_at();

-- Idempotency keys are 1 to 200 visible ASCII characters (%x21-7E): no
-- spaces, no control or non-ASCII characters that read alike and differ.
-- NOT VALID: a database migrated before this one may hold older keys that
-- break the rule, and validating them would fail this migration. New and
-- changed rows are checked; once old keys are cleared, VALIDATE CONSTRAINT.
ALTER TABLE purchases
  ADD CONSTRAINT purchases_idempotency_key_is_visible_ascii
  CHECK (idempotency_key ~ '^[\x21-\x7E]{1,200}$') NOT VALID;
