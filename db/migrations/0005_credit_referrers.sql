-- The heart of the engine: every inserted purchase credits the buyer's
-- referrers, one earning per level that referral_rates defines, and announces
-- the new earnings on the "earnings" channel. It runs for purchases inserted
-- by the bridge and by plain SQL alike, in the purchase's own transaction.

-- Up Migration

-- Money keeps its exact value and reads naturally: at least two decimals, and
-- no trailing zeros beyond them (1000.00 × 0.05 = 50.0000 is stored as 50.00,
-- 1999.99 × 0.05 as 99.9995).
CREATE FUNCTION normalize_money(value numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT round(value, greatest(2, scale(trim_scale(value))))
$$;

-- Rule: for a purchase of amount A by user U, the referrer n levels above U
-- earns exactly A × (rate of level n), for each level n in referral_rates.
-- Each beneficiary's earnings take the next numbers of its seq, in purchase
-- and level order. One pg_notify per statement says which earnings are new.
CREATE FUNCTION tg_purchases__credit_referrers() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  deepest_level integer := (SELECT max(level) FROM referral_rates);
  first_earning_id bigint;
  last_earning_id bigint;
  earning_count bigint;
BEGIN
  WITH RECURSIVE referrer_chain (purchase_id, buyer_id, purchase_amount, beneficiary_id, level) AS (
      SELECT purchase.id, purchase.user_id, purchase.amount, buyer.referred_by, 1
      FROM new_purchases purchase
      JOIN users buyer ON buyer.id = purchase.user_id
      WHERE buyer.referred_by IS NOT NULL
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
    INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, seq)
    SELECT due.beneficiary_id, due.buyer_id, due.level, due.rate, due.amount, due.purchase_id,
           reserved.last_seq - due.count_for_beneficiary + due.nth_for_beneficiary
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

CREATE TRIGGER tg_purchases__credit_referrers
  AFTER INSERT ON purchases
  REFERENCING NEW TABLE AS new_purchases
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_purchases__credit_referrers();
