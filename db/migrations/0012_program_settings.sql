-- The program's settings, and what a credit needs to know to become payable.
--
-- Every serious referral program holds a commission for a refund window
-- before it can be paid. program_settings is one row (changed with UPDATE,
-- or the API): holding_period, how long a credit stays pending (default 30
-- days); minimum_payout, the least a payout may be (default 50.00, used by
-- 0013's create_payouts); minimum_purchase_amount, below which a purchase
-- credits nobody (default 0: the original project hard-coded 1000 in its
-- code without saying so); currency, a label for amounts (default empty).
--
-- A change applies from the moment it commits, and earnings keep what they
-- were credited with: each credit records when it becomes available,
-- available_at = created_at + the holding period in force when it was
-- credited, so a later change of the holding period applies only to credits
-- that come after it. A reversal is available (or pending) together with the
-- credit it takes back, so it records its credit's available_at: a refund of
-- a pending credit nets inside pending, and a refund of an available (or
-- paid) credit takes the money back from available at once; it never waits.
--
-- Credits from before this migration were credited under no holding period;
-- they get the default one (30 days after they were credited), the cautious
-- choice for money that a refund may still take back, and their reversals
-- follow them. This is the one time rows of earnings are updated.
--
-- Lifecycle reads compare available_at with ledger_now(): now(), unless the
-- session setting referrals.now names another moment. Tests set it to cross
-- a holding period's end without sleeping; production never does.

-- Up Migration

CREATE TABLE program_settings (
  one_row                 boolean PRIMARY KEY DEFAULT true CONSTRAINT program_settings_has_one_row CHECK (one_row),
  holding_period          interval NOT NULL DEFAULT interval '30 days',
  minimum_payout          numeric NOT NULL DEFAULT 50.00,
  minimum_purchase_amount numeric NOT NULL DEFAULT 0,
  currency                text NOT NULL DEFAULT '',
  updated_at              timestamptz NOT NULL DEFAULT now(),
  -- PostgreSQL checks constraints in name order; as for purchases, these
  -- names make the first failure the most useful one. Money follows the
  -- rules of a purchase amount: exact, refused rather than rounded, at most
  -- 999999999999.99 (said shorter: names are cut at 63 characters).
  CONSTRAINT program_settings_currency_has_no_spaces_or_control_characters CHECK (currency !~ '[[:space:][:cntrl:]]'),
  CONSTRAINT program_settings_currency_is_at_most_10_characters CHECK (length(currency) <= 10),
  CONSTRAINT program_settings_holding_period_is_at_most_3650_days CHECK (holding_period <= interval '3650 days'),
  CONSTRAINT program_settings_holding_period_is_not_negative CHECK (holding_period >= interval '0'),
  CONSTRAINT program_settings_minimum_payout_has_at_most_2_decimals CHECK (minimum_payout = round(minimum_payout, 2)),
  CONSTRAINT program_settings_minimum_payout_is_a_number CHECK (minimum_payout <> 'NaN'),
  CONSTRAINT program_settings_minimum_payout_is_below_1_trillion CHECK (minimum_payout < 1000000000000),
  CONSTRAINT program_settings_minimum_payout_is_not_negative CHECK (minimum_payout >= 0),
  CONSTRAINT program_settings_minimum_purchase_amount_has_at_most_2_decimals CHECK (minimum_purchase_amount = round(minimum_purchase_amount, 2)),
  CONSTRAINT program_settings_minimum_purchase_amount_is_a_number CHECK (minimum_purchase_amount <> 'NaN'),
  CONSTRAINT program_settings_minimum_purchase_amount_is_below_1_trillion CHECK (minimum_purchase_amount < 1000000000000),
  CONSTRAINT program_settings_minimum_purchase_amount_is_not_negative CHECK (minimum_purchase_amount >= 0)
);

INSERT INTO program_settings DEFAULT VALUES;

-- Rule: program_settings holds exactly one row, changed only with UPDATE
-- (the triggers and payouts read it, and would have nothing to read).
CREATE FUNCTION tg_program_settings__keep_the_one_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'program_settings holds exactly one row: % is refused; change it with UPDATE', TG_OP
    USING ERRCODE = 'restrict_violation',
          HINT = 'Change the settings with UPDATE program_settings SET holding_period = ''14 days'' (or minimum_payout, minimum_purchase_amount, currency).';
END;
$$;

CREATE TRIGGER tg_program_settings__keep_the_one_row
  BEFORE INSERT OR DELETE OR TRUNCATE ON program_settings
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_program_settings__keep_the_one_row();

-- Rule: updated_at says when the settings in force were last changed.
CREATE FUNCTION tg_program_settings__stamp_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER tg_program_settings__stamp_updated_at
  BEFORE UPDATE ON program_settings
  FOR EACH ROW
  EXECUTE FUNCTION tg_program_settings__stamp_updated_at();

-- The moment lifecycle reads call "now": now(), or the session setting
-- referrals.now when a test sets it (SET referrals.now = '2026-12-25 10:00Z').
CREATE FUNCTION ledger_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(nullif(current_setting('referrals.now', true), '')::timestamptz, now())
$$;

-- A duration as the API writes it: ISO 8601 ("P30D", "PT0S", "P1M2DT3H").
CREATE FUNCTION iso_8601_duration(period interval) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET intervalstyle = 'iso_8601' AS $$
  SELECT period::text
$$;

ALTER TABLE earnings ADD COLUMN available_at timestamptz;

ALTER TABLE earnings DISABLE TRIGGER tg_earnings__forbid_changes;
UPDATE earnings SET available_at = created_at + interval '30 days' WHERE refund_id IS NULL;
UPDATE earnings reversal SET available_at = credit.available_at
FROM earnings credit
WHERE credit.id = reversal.reverses_earning_id;
ALTER TABLE earnings ENABLE TRIGGER tg_earnings__forbid_changes;

-- The triggers always set it; a row written any other way (possible only
-- with triggers off) is never available, the safe side for money.
ALTER TABLE earnings
  ALTER COLUMN available_at SET NOT NULL,
  ALTER COLUMN available_at SET DEFAULT 'infinity',
  ADD CONSTRAINT earnings_credit_is_available_after_it_is_credited CHECK (refund_id IS NOT NULL OR available_at >= created_at);

-- Rule: for a purchase of amount A by user U, the referrer n levels above U
-- earns exactly A × (rate of level n), for each level n in referral_rates,
-- unless A is below the program's minimum_purchase_amount: then nobody
-- earns anything. Each credit becomes available once the program's
-- holding_period, as it stands now, has passed. Each beneficiary's earnings
-- take the next numbers of its seq, in purchase and level order. One
-- pg_notify per statement says which earnings are new. As in 0005, but for
-- the minimum and available_at: the same locks, in the same order.
CREATE OR REPLACE FUNCTION tg_purchases__credit_referrers() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  deepest_level integer := (SELECT max(level) FROM referral_rates);
  settings program_settings;
  first_earning_id bigint;
  last_earning_id bigint;
  earning_count bigint;
BEGIN
  SELECT * INTO STRICT settings FROM program_settings;

  WITH RECURSIVE referrer_chain (purchase_id, buyer_id, purchase_amount, beneficiary_id, level) AS (
      SELECT purchase.id, purchase.user_id, purchase.amount, buyer.referred_by, 1
      FROM new_purchases purchase
      JOIN users buyer ON buyer.id = purchase.user_id
      WHERE buyer.referred_by IS NOT NULL
        AND purchase.amount >= settings.minimum_purchase_amount
    UNION ALL
      SELECT chain.purchase_id, chain.buyer_id, chain.purchase_amount, referrer.referred_by, chain.level + 1
      FROM referrer_chain chain
      JOIN users referrer ON referrer.id = chain.beneficiary_id
      WHERE referrer.referred_by IS NOT NULL
        AND chain.level < deepest_level
  ),
  due AS (
    SELECT chain.*,
           rate.rate,
           normalize_money(chain.purchase_amount * rate.rate) AS amount,
           row_number() OVER per_beneficiary AS nth_for_beneficiary,
           count(*) OVER (PARTITION BY chain.beneficiary_id) AS count_for_beneficiary
    FROM referrer_chain chain
    JOIN referral_rates rate ON rate.level = chain.level
    WINDOW per_beneficiary AS (PARTITION BY chain.beneficiary_id ORDER BY chain.purchase_id, chain.level)
  ),
  -- Reserve each beneficiary's seq numbers, locking their counters in user id
  -- order so that concurrent statements, whatever their row order, never
  -- wait on each other in a cycle.
  reserved AS (
    INSERT INTO earning_sequences AS counter (user_id, last_seq)
    SELECT beneficiary_id, count(*)
    FROM due
    GROUP BY beneficiary_id
    ORDER BY beneficiary_id
    ON CONFLICT (user_id) DO UPDATE SET last_seq = counter.last_seq + excluded.last_seq
    RETURNING user_id, last_seq
  ),
  credited AS (
    INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, seq, available_at)
    SELECT due.beneficiary_id, due.buyer_id, due.level, due.rate, due.amount, due.purchase_id,
           reserved.last_seq - due.count_for_beneficiary + due.nth_for_beneficiary,
           -- created_at is now(), the transaction's time, too.
           now() + settings.holding_period
    FROM due
    JOIN reserved ON reserved.user_id = due.beneficiary_id
    ORDER BY due.purchase_id, due.level
    RETURNING id
  )
  SELECT min(id), max(id), count(*) INTO first_earning_id, last_earning_id, earning_count
  FROM credited;

  -- A hint, not the record: listeners load the earnings in this id range
  -- (which may also hold other transactions' earnings) from the table.
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

-- Rule: a purchase's refunds add up to at most its amount; a refund of R
-- takes back R × rate of every earning its purchase credited, one reversal
-- per earning, for the same beneficiary and level, with the beneficiary's
-- next seq, available (or pending) together with the credit it reverses.
-- One pg_notify per statement says which earnings are new. As in 0010, but
-- for available_at: the same locks, in the same order.
CREATE OR REPLACE FUNCTION tg_refunds__reverse_earnings() RETURNS trigger
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
           credit.user_id, credit.source_user_id, credit.level, credit.rate, credit.purchase_id, credit.available_at,
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
    INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, refund_id, reverses_earning_id, seq, available_at)
    SELECT due.user_id, due.source_user_id, due.level, due.rate, due.amount, due.purchase_id,
           due.refund_id, due.reverses_earning_id,
           reserved.last_seq - due.count_for_beneficiary + due.nth_for_beneficiary,
           due.available_at
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
