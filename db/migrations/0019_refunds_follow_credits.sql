-- Rule: a refund takes back what its purchase credited, so it is never
-- applied before those credits are written.
--
-- A purchase's credits are written when its INSERT statement ends (the
-- purchases trigger of 0005, 0015). One SQL statement can hold both a purchase
-- and a refund of it, the refund in a WITH clause:
--
--   WITH r AS (INSERT INTO refunds (purchase_id, amount) VALUES (100, 1000) RETURNING id)
--   INSERT INTO purchases (id, user_id, amount) SELECT 100, 4, 1000 FROM r;
--
-- There the refunds' trigger runs first, finds no credit to reverse, and the
-- credits written afterwards would stay, fully refunded purchase or not, to
-- be paid out. So each statement that inserts purchases says, for its
-- transaction, that credits are being written, and says so no more once
-- they are; a refund statement that ends while credits are being written is
-- refused. (The other way round, the purchase in the WITH clause and the
-- refund in the main statement, the credits are written first and the
-- refund reverses them: that is allowed.)

-- Up Migration

-- How many purchases statements of this transaction have yet to write their
-- credits (a transaction-local setting: a rolled-back statement or savepoint
-- takes its change with it).
CREATE FUNCTION purchase_statements_crediting() RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('referral_earnings.purchase_statements_crediting', true), ''), '0')::integer
$$;

-- The count is the ledger's own: set by hand below zero (to slip a refund
-- past the rule), it fails the purchases statement, refund and all.
CREATE FUNCTION tg_purchases__count_statement_crediting() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  crediting integer := purchase_statements_crediting() + CASE TG_WHEN WHEN 'BEFORE' THEN 1 ELSE -1 END;
BEGIN
  IF crediting < 0 THEN
    RAISE EXCEPTION 'referral_earnings.purchase_statements_crediting was set by hand'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'It counts the purchases statements whose credits are still to be written; refunds are checked against it.',
            HINT = 'RESET referral_earnings.purchase_statements_crediting, and leave it to the ledger''s triggers.';
  END IF;
  PERFORM set_config('referral_earnings.purchase_statements_crediting', crediting::text, true);
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_purchases__count_statement_crediting_before
  BEFORE INSERT ON purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchases__count_statement_crediting();

CREATE TRIGGER tg_purchases__count_statement_crediting_after
  AFTER INSERT ON purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchases__count_statement_crediting();

-- Named to fire before tg_refunds__reverse_earnings (same event: by name).
CREATE FUNCTION tg_refunds__follow_their_purchases_credits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF purchase_statements_crediting() > 0 THEN
    RAISE EXCEPTION 'a refund cannot be inserted by a statement that also inserts purchases, ahead of their credits'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A purchase''s commissions are credited when the statement that inserts it ends; this refund would have reversed them before they existed.',
            HINT = 'Insert the purchases first, then the refund in a statement of its own (or in the main statement, with the purchases in its WITH clause).';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_refunds__follow_their_purchases_credits
  AFTER INSERT ON refunds
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_refunds__follow_their_purchases_credits();
