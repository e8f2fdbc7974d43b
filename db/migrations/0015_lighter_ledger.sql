-- The same rules, for less: what an ordinary purchase paid for and did not
-- need, measured per function with track_functions (README, Performance).
-- Every rule, message and lock order stays as it was.
--
-- * normalize_money and decimal_text lose STRICT: a STRICT SQL function whose
--   body is not itself strict cannot be inlined, so each call was a function
--   call (about 12 µs, twice per credit). NULL still gives NULL.
-- * The purchases identity advance ran for every statement; it is needed only
--   for a row whose explicit id is past the sequence. A row trigger whose WHEN
--   compares the id with the sequence, evaluated without calling any
--   function body, now does the same, only for such rows.
-- * The guards that earnings and earning_sequences are written only by the
--   ledger's triggers now say so in their WHEN (pg_trigger_depth() < 1: the
--   statement does not come from a trigger): for the ledger's own writes, no
--   function is called at all.
-- * The purchases trigger reads referral_rates and program_settings in one
--   lookup rather than two.
-- * The WhatsApp outbox is filled by the triggers that write earnings, in
--   the statement that writes them, and only when a beneficiary has a phone
--   number (asked of an index of only the users who have one); the earnings
--   trigger that ran for every statement, phone or not, is gone. A rule of the ledger still: every earning of a user with a
--   phone number queues one message, in its own transaction.
-- * announce_earnings() sends the one notification per statement, for both
--   credits and reversals: when the new events fit in a notification (8000
--   bytes), the events themselves, so that the bridge need not read them
--   back; else the range of their ids, as before.

-- Up Migration

CREATE OR REPLACE FUNCTION normalize_money(value numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT round(value, greatest(2, scale(trim_scale(value))))
$$;

CREATE OR REPLACE FUNCTION decimal_text(value numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT normalize_money(value)::text
$$;

-- Rule: a purchase inserted with an explicit id past the identity sequence
-- moves the sequence past it, so default ids never collide (as 0001's
-- statement trigger, for one row).
CREATE FUNCTION tg_purchases__advance_identity_past_explicit_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- setval is not transactional: serialise, then re-check, so that a
  -- concurrent smaller explicit id never moves the sequence back.
  PERFORM pg_advisory_xact_lock('purchases_id_seq'::regclass::oid::bigint);
  PERFORM setval('purchases_id_seq'::regclass, NEW.id)
  WHERE NEW.id > coalesce(pg_sequence_last_value('purchases_id_seq'::regclass), 0);
  RETURN NULL;
END;
$$;

DROP TRIGGER tg_purchases__advance_identity_past_explicit_ids ON purchases;

CREATE TRIGGER tg_purchases__advance_identity_past_explicit_id
  AFTER INSERT ON purchases
  FOR EACH ROW
  WHEN (NEW.id > coalesce(pg_sequence_last_value('purchases_id_seq'::regclass), 0))
  EXECUTE FUNCTION tg_purchases__advance_identity_past_explicit_id();

DROP TRIGGER tg_earnings__only_from_the_ledger ON earnings;
CREATE TRIGGER tg_earnings__only_from_the_ledger
  BEFORE INSERT ON earnings
  FOR EACH STATEMENT
  WHEN (pg_trigger_depth() < 1)
  EXECUTE FUNCTION tg_earnings__only_from_the_ledger();

DROP TRIGGER tg_earning_sequences__only_from_the_ledger ON earning_sequences;
CREATE TRIGGER tg_earning_sequences__only_from_the_ledger
  BEFORE INSERT OR UPDATE ON earning_sequences
  FOR EACH STATEMENT
  WHEN (pg_trigger_depth() < 1)
  EXECUTE FUNCTION tg_earning_sequences__only_from_the_ledger();

-- Rule: every new earning of a user with a phone number queues one WhatsApp
-- message (its variables as 0011 made them), and one NOTIFY per statement
-- wakes a worker. Called by the triggers that write earnings, with the ids
-- they wrote; nothing happens when no beneficiary has a phone number.
CREATE FUNCTION queue_whatsapp_for_earnings(earning_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  queued bigint;
BEGIN
  INSERT INTO whatsapp_outbox (earning_id, user_id, recipient, variables)
  SELECT earning.id, earning.user_id, beneficiary.phone_number,
         CASE WHEN earning.refund_id IS NULL
           THEN jsonb_build_object(
             'amount', decimal_text(earning.amount),
             'level', earning.level,
             'fromUserId', earning.source_user_id,
             'purchaseId', earning.purchase_id,
             'purchaseAmount', decimal_text(purchase.amount))
           ELSE jsonb_build_object(
             'kind', 'reversal',
             'amount', decimal_text(-earning.amount),
             'level', earning.level,
             'fromUserId', earning.source_user_id,
             'purchaseId', earning.purchase_id,
             'purchaseAmount', decimal_text(purchase.amount),
             'refundId', earning.refund_id,
             'refundAmount', decimal_text(refund.amount))
         END
  FROM earnings earning
  JOIN users beneficiary ON beneficiary.id = earning.user_id
  JOIN purchases purchase ON purchase.id = earning.purchase_id
  LEFT JOIN refunds refund ON refund.id = earning.refund_id
  WHERE earning.id = ANY(earning_ids)
    AND beneficiary.phone_number IS NOT NULL
  ORDER BY earning.id;
  GET DIAGNOSTICS queued = ROW_COUNT;

  IF queued > 0 THEN
    PERFORM pg_notify('whatsapp_outbox', queued::text);
  END IF;
END;
$$;

DROP TRIGGER tg_earnings__queue_whatsapp ON earnings;
DROP FUNCTION tg_earnings__queue_whatsapp();

-- "Has any of these beneficiaries a phone number?" reads this index, which
-- holds only the users who have one: nothing to read when nobody has.
CREATE INDEX users_with_a_phone_number_idx ON users (id) WHERE phone_number IS NOT NULL;

-- Says which earnings a statement added (their ids in ascending order), on
-- the "earnings" channel, once.
-- Up to 28 events, and when they fit in the 8000 bytes a notification may
-- carry, the events themselves:
--     earnings <first id> <last id> <count>
--     <user id> <seq> <event JSON, as earning_events builds it>
--     ...
-- else the hint {"firstEarningId":…,"lastEarningId":…,"count":…}, and
-- listeners load the events in that id range (which may also hold other
-- transactions' earnings) from the table. Either way the table is the
-- record: a listener that misses a notification catches up from it.
CREATE FUNCTION announce_earnings(earning_ids bigint[]) RETURNS void
LANGUAGE plpgsql
-- One plan for every call: a plan made for each call's ids (PostgreSQL's
-- default for the first calls) costs more than reading the view itself.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  earning_count integer := cardinality(earning_ids);
  first_id bigint := earning_ids[1];
  last_id bigint := earning_ids[earning_count];
  events text;
BEGIN
  IF earning_count = 0 THEN
    RETURN;
  END IF;
  IF earning_count <= 28 THEN
    SELECT string_agg(format('%s %s %s', e.user_id, e.seq, e.event), E'\n' ORDER BY e.earning_id) INTO events
    FROM earning_events e
    WHERE e.earning_id = ANY(earning_ids);
    events := format('earnings %s %s %s', first_id, last_id, earning_count) || E'\n' || events;
    IF octet_length(events) < 8000 THEN
      PERFORM pg_notify('earnings', events);
      RETURN;
    END IF;
  END IF;
  PERFORM pg_notify('earnings', json_build_object(
    'firstEarningId', first_id,
    'lastEarningId', last_id,
    'count', earning_count
  )::text);
END;
$$;

-- What follows every statement that writes earnings, credits or reversals
-- (their ids, and their beneficiaries'): the WhatsApp messages, looked for
-- only when a beneficiary has a phone number, and the one notification.
CREATE FUNCTION follow_new_earnings(earning_ids bigint[], beneficiary_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM users WHERE id = ANY(beneficiary_ids) AND phone_number IS NOT NULL) THEN
    PERFORM queue_whatsapp_for_earnings(earning_ids);
  END IF;
  PERFORM announce_earnings(coalesce(earning_ids, '{}'));
END;
$$;

-- Rule: as in 0012: for a purchase of amount A by user U,
-- the referrer n levels above U earns exactly A × (rate of level n), for
-- each level n in referral_rates, unless A is below the program's
-- minimum_purchase_amount; each credit becomes available once the holding
-- period in force now has passed; each beneficiary's earnings take the next
-- numbers of its seq, counters locked in user id order. Then what follows
-- new earnings (follow_new_earnings).
CREATE OR REPLACE FUNCTION tg_purchases__credit_referrers() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  minimum_purchase_amount numeric;
  holding_period interval;
  deepest_level integer;
  earning_ids bigint[];
  beneficiary_ids integer[];
BEGIN
  SELECT settings.minimum_purchase_amount, settings.holding_period, (SELECT max(level) FROM referral_rates)
  INTO STRICT minimum_purchase_amount, holding_period, deepest_level
  FROM program_settings settings;

  WITH RECURSIVE referrer_chain (purchase_id, buyer_id, purchase_amount, beneficiary_id, level) AS (
      SELECT purchase.id, purchase.user_id, purchase.amount, buyer.referred_by, 1
      FROM new_purchases purchase
      JOIN users buyer ON buyer.id = purchase.user_id
      WHERE buyer.referred_by IS NOT NULL
        AND purchase.amount >= minimum_purchase_amount
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
           now() + holding_period
    FROM due
    JOIN reserved ON reserved.user_id = due.beneficiary_id
    ORDER BY due.purchase_id, due.level
    RETURNING id, user_id
  )
  SELECT array_agg(id ORDER BY id), array_agg(DISTINCT user_id)
  INTO earning_ids, beneficiary_ids
  FROM credited;

  PERFORM follow_new_earnings(earning_ids, beneficiary_ids);
  RETURN NULL;
END;
$$;

-- Rule: as in 0012: a purchase's refunds add up to at most its amount; a
-- refund of R takes back R × rate of every earning its purchase credited,
-- one reversal per earning, for the same beneficiary and level, with the
-- beneficiary's next seq, available together with the credit it reverses.
-- Then, as for credits, what follows new earnings.
CREATE OR REPLACE FUNCTION tg_refunds__reverse_earnings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  overdrawn record;
  earning_ids bigint[];
  beneficiary_ids integer[];
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
    RETURNING id, user_id
  )
  SELECT array_agg(id ORDER BY id), array_agg(DISTINCT user_id)
  INTO earning_ids, beneficiary_ids
  FROM reversed;

  -- As for credits: reversals are earnings.
  PERFORM follow_new_earnings(earning_ids, beneficiary_ids);
  RETURN NULL;
END;
$$;
