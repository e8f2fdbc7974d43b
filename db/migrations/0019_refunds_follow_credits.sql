-- Rule: a refund takes back what its purchase credited, so it is never
-- applied before those credits are written.
--
-- A purchase's credits are written when its INSERT statement ends (the
-- purchases trigger of 0005, 0015). One SQL statement can hold both a purchase
-- and a refund of it, the refund first (in a WITH clause, or in a function the
-- statement calls):
--
--   WITH r AS (INSERT INTO refunds (purchase_id, amount) VALUES (100, 1000) RETURNING id)
--   INSERT INTO purchases (id, user_id, amount) SELECT 100, 4, 1000 FROM r;
--
-- There the refunds' trigger runs first and finds no credit to reverse; the
-- credits written afterwards would stay, fully refunded purchase or not, to
-- be paid out. So when a statement's purchases are credited, none of them
-- may have been refunded already: if one has, the statement is refused, its
-- refund with it. This asks the ledger itself (purchase_refund_totals), not
-- anything a session could set. The other way round, the purchase in the
-- WITH clause and the refund in the main statement, the credits are written
-- first and the refund reverses them: that is allowed.

-- Up Migration

CREATE FUNCTION tg_purchases__refuse_refunded_before_credited() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  refunded_id bigint;
BEGIN
  SELECT total.purchase_id INTO refunded_id
  FROM new_purchases purchase
  JOIN purchase_refund_totals total ON total.purchase_id = purchase.id
  ORDER BY total.purchase_id
  LIMIT 1;

  IF FOUND THEN
    RAISE EXCEPTION 'purchase % was refunded before its commissions were credited', refunded_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A purchase''s commissions are credited when the statement that inserts it ends; a refund in that statement ran first, with nothing to reverse.',
            HINT = 'Insert the purchase first, then the refund in a statement of its own (or in the main statement, with the purchase in its WITH clause).';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_purchases__refuse_refunded_before_credited
  AFTER INSERT ON purchases
  REFERENCING NEW TABLE AS new_purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchases__refuse_refunded_before_credited();
