-- Reversals reach people as credits do: live, and on WhatsApp. A reversal is
-- a row of earnings, so it already takes the beneficiary's next seq and is
-- announced by the same NOTIFY hint; this migration defines what it says.
--
-- The event view now builds two types: earning_update for a credit, exactly
-- as before (existing clients read it unchanged), and earning_reversed for a
-- reversal, whose amount is negative, so that a client summing amount over
-- every event it received holds the user's total. The WhatsApp outbox queues
-- one message per reversal too, with kind "reversal" among its variables.

-- Up Migration

CREATE OR REPLACE VIEW earning_events AS
SELECT earning.user_id,
       earning.seq,
       earning.id AS earning_id,
       CASE WHEN earning.refund_id IS NULL THEN row_to_json(credit) ELSE row_to_json(reversal) END AS event
FROM earnings earning
JOIN purchases purchase ON purchase.id = earning.purchase_id
LEFT JOIN refunds refund ON refund.id = earning.refund_id
CROSS JOIN LATERAL (
  SELECT 'earning_update' AS "type",
         earning.user_id AS "userId",
         earning.seq AS "seq",
         earning.id AS "earningId",
         earning.purchase_id AS "purchaseId",
         earning.source_user_id AS "fromUserId",
         earning.level AS "level",
         trim_scale(earning.rate)::text AS "rate",
         decimal_text(earning.amount) AS "amount",
         decimal_text(purchase.amount) AS "purchaseAmount",
         iso_utc(earning.created_at) AS "createdAt"
) credit
CROSS JOIN LATERAL (
  SELECT 'earning_reversed' AS "type",
         earning.user_id AS "userId",
         earning.seq AS "seq",
         earning.id AS "earningId",
         earning.reverses_earning_id AS "reversesEarningId",
         earning.refund_id AS "refundId",
         earning.purchase_id AS "purchaseId",
         earning.source_user_id AS "fromUserId",
         earning.level AS "level",
         trim_scale(earning.rate)::text AS "rate",
         decimal_text(earning.amount) AS "amount",
         decimal_text(refund.amount) AS "refundAmount",
         decimal_text(purchase.amount) AS "purchaseAmount",
         iso_utc(earning.created_at) AS "createdAt"
) reversal;

-- Rule: every earning of a user with a phone number queues one WhatsApp
-- message, in the same transaction; one NOTIFY per statement wakes a worker.
-- A credit's variables are as in 0007; a reversal's say kind "reversal" and
-- the amount taken back, as its message says it ("A refund of purchase 7
-- took back 12.50 (level 1).").
CREATE OR REPLACE FUNCTION tg_earnings__queue_whatsapp() RETURNS trigger
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
  FROM new_earnings earning
  JOIN users beneficiary ON beneficiary.id = earning.user_id
  JOIN purchases purchase ON purchase.id = earning.purchase_id
  LEFT JOIN refunds refund ON refund.id = earning.refund_id
  WHERE beneficiary.phone_number IS NOT NULL
  ORDER BY earning.id;
  GET DIAGNOSTICS queued = ROW_COUNT;

  IF queued > 0 THEN
    PERFORM pg_notify('whatsapp_outbox', queued::text);
  END IF;
  RETURN NULL;
END;
$$;
