-- Rules of the program's own tables that an operator's slip could break:
--
-- * referral_rates always holds level 1 when a transaction commits. Emptied
--   (by DELETE or TRUNCATE), every purchase would credit nobody, without a
--   word: commissions lost. A level above 1 may still be added, changed or
--   removed, and a transaction may delete every rate and insert new ones.
-- * The holding period is days and time, no part of it negative. A month
--   is 28 to 31 days and an interval such as '1 mon -30 days' compares as
--   zero while adding it to the 31st of January lands on the 29th: credits
--   would become available before they were made (and the earnings' CHECK
--   would then refuse every purchase at the end of a month). A holding
--   period already set with months or years becomes the days PostgreSQL
--   counts it as (30 a month).
-- * Settling a payout names what is wrong with the request itself: no payout
--   id, or no transfer reference for a paid one, before looking for it.

-- Up Migration

CREATE FUNCTION tg_referral_rates__keep_level_1() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM referral_rates WHERE level = 1) THEN
    RAISE EXCEPTION 'referral_rates must keep level 1: without it no purchase credits anyone'
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'referral_rates_level_1_is_defined',
            HINT = 'Change level 1''s rate with UPDATE referral_rates SET rate = 0.04 WHERE level = 1; deeper levels may be removed.';
  END IF;
  RETURN NULL;
END;
$$;

-- Checked at commit, so that a transaction may replace the whole table.
CREATE CONSTRAINT TRIGGER tg_referral_rates__keep_level_1
  AFTER UPDATE OR DELETE ON referral_rates
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW
  EXECUTE FUNCTION tg_referral_rates__keep_level_1();

CREATE FUNCTION tg_referral_rates__forbid_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'referral_rates cannot be truncated: without level 1 no purchase credits anyone'
    USING ERRCODE = 'restrict_violation',
          HINT = 'Remove deeper levels with DELETE FROM referral_rates WHERE level > 1; change a rate with UPDATE.';
END;
$$;

CREATE TRIGGER tg_referral_rates__forbid_truncate
  BEFORE TRUNCATE ON referral_rates
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_referral_rates__forbid_truncate();

-- Months and years become days; a negative part folds into the whole.
UPDATE program_settings
SET holding_period = make_interval(days => floor(extract(epoch FROM holding_period) / 86400)::integer)
                   + make_interval(secs => extract(epoch FROM holding_period) - 86400 * floor(extract(epoch FROM holding_period) / 86400))
WHERE extract(year FROM holding_period) <> 0 OR extract(month FROM holding_period) <> 0
   OR extract(day FROM holding_period) < 0
   OR holding_period - make_interval(days => extract(day FROM holding_period)::integer) < interval '0';

ALTER TABLE program_settings
  ADD CONSTRAINT program_settings_holding_period_uses_days_and_time_only CHECK (
    extract(year FROM holding_period) = 0 AND extract(month FROM holding_period) = 0
    AND extract(day FROM holding_period) >= 0
    AND holding_period - make_interval(days => extract(day FROM holding_period)::integer) >= interval '0');

CREATE OR REPLACE FUNCTION settle_payout(payout_id bigint, status text, reference text, reason text) RETURNS payouts
LANGUAGE plpgsql AS $$
DECLARE
  payout payouts;
BEGIN
  IF payout_id IS NULL THEN
    RAISE EXCEPTION 'which payout? the payout id is NULL'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass a payout''s id (payouts.id): SELECT * FROM payouts WHERE status = ''pending'' lists the payouts waiting to be paid.';
  END IF;
  IF status = 'paid' AND reference IS NULL THEN
    RAISE EXCEPTION 'payout % cannot be marked paid without the transfer''s reference', payout_id
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'payouts_reference_is_given_when_paid',
            HINT = 'Pass the bank''s or PayPal''s transfer id: SELECT * FROM mark_payout_paid(7, ''TX-2026-0042'').';
  END IF;

  UPDATE payouts
  SET status = settle_payout.status, reference = settle_payout.reference, reason = settle_payout.reason
  WHERE id = payout_id
  RETURNING * INTO payout;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'there is no payout %', payout_id
      USING ERRCODE = 'no_data_found',
            CONSTRAINT = 'payouts_payout_exists',
            HINT = 'SELECT * FROM payouts WHERE status = ''pending'' lists the payouts waiting to be paid.';
  END IF;
  RETURN payout;
END;
$$;
