-- Refunds, and the commissions they take back. A refund of a purchase, in
-- full or in part (several parts allowed), takes back the same share of every
-- earning the purchase credited, at every level, exactly: for each of those
-- earnings one reversal row in earnings, of -(refund amount × the rate that
-- earning used), for the same beneficiary and level, with the beneficiary's
-- next seq. The ledger stays append-only: nothing is updated or deleted, so
-- history, seq numbers and live events stay true, and a user's total is still
-- the sum of their rows in earnings.
--
-- A purchase's refunds never add up to more than the purchase, also when
-- several transactions refund it at once, at every isolation level. Summing
-- the refunds is not enough: at REPEATABLE READ the sum is taken in a snapshot
-- that misses a concurrent refund. Each refunded purchase keeps a running
-- total instead, purchase_refund_totals, which every refund statement updates
-- (as earning_sequences does for seq): its row lock, held until commit, makes
-- the refunds of one purchase take turns. At READ COMMITTED the later one
-- waits, then adds to the total as committed and is refused if it no longer
-- fits; at REPEATABLE READ and SERIALIZABLE it fails with 40001 and is run again.
--
-- Lock order: a refund statement locks its purchases' totals in purchase id
-- order, then its beneficiaries' seq counters in user id order; a purchase
-- statement (0005) locks only seq counters, in the same order. Each statement
-- takes its locks in one global order, so no two ever wait for each other in
-- a cycle.

-- Up Migration

CREATE TABLE refunds (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  purchase_id     bigint NOT NULL REFERENCES purchases (id),
  -- Exact money, as a purchase's amount (0002): refused, never rounded.
  amount          numeric NOT NULL,
  reason          text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  idempotency_key text UNIQUE,
  -- PostgreSQL checks constraints in name order; as for purchases, these
  -- names make the first failure the most useful one.
  CONSTRAINT refunds_amount_has_at_most_2_decimals CHECK (amount = round(amount, 2)),
  CONSTRAINT refunds_amount_is_a_number CHECK (amount <> 'NaN'),
  CONSTRAINT refunds_amount_is_at_most_999999999999_99 CHECK (amount <= 999999999999.99),
  CONSTRAINT refunds_amount_is_positive CHECK (amount > 0),
  CONSTRAINT refunds_idempotency_key_is_visible_ascii CHECK (idempotency_key ~ '^[\x21-\x7E]{1,200}$'),
  CONSTRAINT refunds_reason_is_at_most_500_characters CHECK (length(reason) <= 500)
);

CREATE INDEX refunds_purchase_id_idx ON refunds (purchase_id);

-- How much of each purchase has been refunded: a row appears with the
-- purchase's first refund. Written only by the refunds trigger; its row lock
-- is the purchase's turn to be refunded.
CREATE TABLE purchase_refund_totals (
  purchase_id bigint PRIMARY KEY REFERENCES purchases (id),
  refunded    numeric NOT NULL CONSTRAINT purchase_refund_totals_refunded_is_positive CHECK (refunded > 0)
);

-- A row of earnings is now a credit (from a purchase) or a reversal (from a
-- refund, taking back part or all of one credit). A reversal names its refund
-- and the credit it reverses, and is negative; a credit names neither, and is
-- positive. purchase_id, user_id, source_user_id, level and rate of a
-- reversal are those of the credit it reverses.
ALTER TABLE earnings
  ADD COLUMN refund_id bigint REFERENCES refunds (id),
  ADD COLUMN reverses_earning_id bigint REFERENCES earnings (id),
  ADD CONSTRAINT earnings_reversal_names_its_refund_and_earning
    CHECK ((refund_id IS NULL) = (reverses_earning_id IS NULL)),
  ADD CONSTRAINT earnings_credit_is_positive_and_reversal_negative
    CHECK (CASE WHEN refund_id IS NULL THEN amount > 0 ELSE amount < 0 END);

-- A purchase credits each level once; a refund reverses each credit once.
-- Partial indexes, so that crediting a purchase updates no index of reversals.
ALTER TABLE earnings DROP CONSTRAINT earnings_purchase_id_level_key;
CREATE UNIQUE INDEX earnings_credit_purchase_id_level_key ON earnings (purchase_id, level)
  WHERE refund_id IS NULL;
CREATE UNIQUE INDEX earnings_reversal_refund_id_reverses_earning_id_key ON earnings (refund_id, reverses_earning_id)
  WHERE refund_id IS NOT NULL;

-- Rule: a refund inserted without an amount (amount NULL) refunds whatever is
-- left of its purchase. What is left is read without a lock: if a concurrent
-- refund commits first, the check below refuses this one, never both.
CREATE FUNCTION tg_refunds__refund_what_is_left() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  purchase_amount numeric;
  refunded numeric;
BEGIN
  SELECT purchase.amount, coalesce(total.refunded, 0) INTO purchase_amount, refunded
  FROM purchases purchase
  LEFT JOIN purchase_refund_totals total ON total.purchase_id = purchase.id
  WHERE purchase.id = NEW.purchase_id;

  IF NOT FOUND THEN
    RAISE EXCEPTION 'purchase % does not exist', NEW.purchase_id
      USING ERRCODE = 'foreign_key_violation',
            CONSTRAINT = 'refunds_purchase_id_fkey',
            HINT = 'Refund a purchase by its id (purchases.id).';
  END IF;
  IF refunded >= purchase_amount THEN
    RAISE EXCEPTION 'purchase % has nothing left to refund: all % of it was refunded', NEW.purchase_id, decimal_text(purchase_amount)
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'refunds_do_not_exceed_the_purchase',
            HINT = 'A purchase''s refunds add up to at most its amount.';
  END IF;

  NEW.amount := purchase_amount - refunded;
  RETURN NEW;
END;
$$;

CREATE TRIGGER tg_refunds__refund_what_is_left
  BEFORE INSERT ON refunds
  FOR EACH ROW
  WHEN (NEW.amount IS NULL AND NEW.purchase_id IS NOT NULL)
  EXECUTE FUNCTION tg_refunds__refund_what_is_left();

-- Rule: a purchase's refunds add up to at most its amount; a refund of R
-- takes back R × rate of every earning its purchase credited, one reversal
-- per earning, for the same beneficiary and level, with the beneficiary's
-- next seq. One pg_notify per statement says which earnings are new.
CREATE FUNCTION tg_refunds__reverse_earnings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  overdrawn record;
  first_earning_id bigint;
  last_earning_id bigint;
  earning_count bigint;
BEGIN
  -- Add the statement's refunds to their purchases' totals, locking those
  -- in purchase id order, then refuse the statement if a total now exceeds
  -- its purchase. The total added to is the latest committed one: the
  -- update waits for a concurrent refund of the same purchase to finish
  -- (and at REPEATABLE READ and above fails with 40001 if one committed).
  WITH requested AS (
    SELECT purchase_id, sum(amount) AS amount, count(*) AS refunds
    FROM new_refunds
    GROUP BY purchase_id
  ),
  totalled AS (
    INSERT INTO purchase_refund_totals AS total (purchase_id, refunded)
    SELECT purchase_id, amount
    FROM requested
    ORDER BY purchase_id
    ON CONFLICT (purchase_id) DO UPDATE SET refunded = total.refunded + excluded.refunded
    RETURNING purchase_id, refunded
  )
  SELECT totalled.purchase_id, purchase.amount AS purchase_amount, requested.amount AS requested,
         CASE WHEN requested.refunds = 1 THEN 'a refund' ELSE 'refunds' END AS what,
         purchase.amount - (totalled.refunded - requested.amount) AS left_to_refund
  INTO overdrawn
  FROM totalled
  JOIN requested USING (purchase_id)
  JOIN purchases purchase ON purchase.id = totalled.purchase_id
  WHERE totalled.refunded > purchase.amount
  ORDER BY totalled.purchase_id
  LIMIT 1;

  IF FOUND THEN
    RAISE EXCEPTION '% of % would exceed purchase %: % of its % is left to refund',
        overdrawn.what, decimal_text(overdrawn.requested), overdrawn.purchase_id,
        decimal_text(overdrawn.left_to_refund), decimal_text(overdrawn.purchase_amount)
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'refunds_do_not_exceed_the_purchase',
            HINT = 'Refund at most what is left, or insert the refund with amount NULL to refund all of it.';
  END IF;

  WITH due AS (
    SELECT refund.id AS refund_id,
           credit.id AS reverses_earning_id,
           credit.user_id, credit.source_user_id, credit.level, credit.rate, credit.purchase_id,
           normalize_money(-(refund.amount * credit.rate)) AS amount,
           row_number() OVER per_beneficiary AS nth_for_beneficiary,
           count(*) OVER (PARTITION BY credit.user_id) AS count_for_beneficiary
    FROM new_refunds refund
    JOIN earnings credit ON credit.purchase_id = refund.purchase_id AND credit.refund_id IS NULL
    WINDOW per_beneficiary AS (PARTITION BY credit.user_id ORDER BY refund.id, credit.level)
  ),
  -- Reserve each beneficiary's seq numbers, locking their counters in user
  -- id order, exactly as the purchases trigger does.
  reserved AS (
    INSERT INTO earning_sequences AS counter (user_id, last_seq)
    SELECT user_id, count(*)
    FROM due
    GROUP BY user_id
    ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET last_seq = counter.last_seq + excluded.last_seq
    RETURNING user_id, last_seq
  ),
  reversed AS (
    INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, refund_id, reverses_earning_id, seq)
    SELECT due.user_id, due.source_user_id, due.level, due.rate, due.amount, due.purchase_id,
           due.refund_id, due.reverses_earning_id,
           reserved.last_seq - due.count_for_beneficiary + due.nth_for_beneficiary
    FROM due
    JOIN reserved USING (user_id)
    ORDER BY due.refund_id, due.level
    RETURNING id
  )
  SELECT min(id), max(id), count(*) INTO first_earning_id, last_earning_id, earning_count
  FROM reversed;

  -- The same hint as for credits: reversals are earnings.
  IF earning_count > 0 THEN
    PERFORM pg_notify('earnings', json_build_object(
      'firstEarningId', first_earning_id,
      'lastEarningId', last_earning_id,
      'count', earning_count
    )::text);
  END IF;

  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_refunds__reverse_earnings
  AFTER INSERT ON refunds
  REFERENCING NEW TABLE AS new_refunds
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_refunds__reverse_earnings();

-- Rule: earnings are inserted only by the ledger's triggers: credits by the
-- purchases trigger, reversals by the refunds trigger. As in 0004, renamed
-- for both, with a hint that names both.
ALTER FUNCTION tg_earnings__only_from_purchases() RENAME TO tg_earnings__only_from_the_ledger;
ALTER TRIGGER tg_earnings__only_from_purchases ON earnings RENAME TO tg_earnings__only_from_the_ledger;

CREATE OR REPLACE FUNCTION tg_earnings__only_from_the_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'earnings cannot be inserted directly'
      USING ERRCODE = 'restrict_violation',
            HINT = 'Insert a purchase; its trigger credits the referrers. Insert a refund; its trigger takes the credits back.';
  END IF;
  RETURN NULL;
END;
$$;

-- Rule: a refund is a fact its reversals were computed from: it is never
-- deleted, and only its idempotency_key may change (be cleared when it
-- expires, as a purchase's may).
CREATE FUNCTION tg_refunds__forbid_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'refunds cannot be deleted or changed once inserted'
    USING ERRCODE = 'restrict_violation',
          HINT = 'The commissions were taken back from the refund as inserted, and the ledger is append-only. Only idempotency_key may be cleared.';
END;
$$;

CREATE TRIGGER tg_refunds__forbid_changes
  BEFORE UPDATE OF id, purchase_id, amount, reason, created_at OR DELETE ON refunds
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_refunds__forbid_changes();

-- Rule: purchase_refund_totals is written only by the refunds trigger (its
-- INSERT ... ON CONFLICT DO UPDATE fires both the INSERT and the UPDATE
-- trigger, from inside a trigger), and never deleted: a lowered or deleted
-- total would let a purchase be refunded twice.
CREATE FUNCTION tg_purchase_refund_totals__only_from_the_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'purchase_refund_totals cannot be changed directly'
      USING ERRCODE = 'restrict_violation',
            HINT = 'Each row is what has been refunded of a purchase so far. Insert a refund; its trigger keeps the totals.';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_purchase_refund_totals__only_from_the_ledger
  BEFORE INSERT OR UPDATE OR DELETE ON purchase_refund_totals
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchase_refund_totals__only_from_the_ledger();

CREATE TRIGGER tg_refunds__forbid_truncate
  BEFORE TRUNCATE ON refunds
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

CREATE TRIGGER tg_purchase_refund_totals__forbid_truncate
  BEFORE TRUNCATE ON purchase_refund_totals
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();
