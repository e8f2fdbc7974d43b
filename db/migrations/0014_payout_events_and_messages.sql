-- Payouts reach people as earnings do: live, on the user's seq stream, and
-- on WhatsApp when one is paid.
--
-- The event view, defined once for every consumer (the live feed, catch-up,
-- the history endpoint), now also builds payout_created, payout_paid,
-- payout_failed and payout_canceled from payout_events (0013), amounts as
-- decimal strings. earning_update and earning_reversed are built exactly as
-- in 0011, byte for byte. A payout event has no earning: its earning_id is
-- NULL, so loading an id range (what an earnings NOTIFY announces) never
-- returns one; they are loaded by (user_id, seq), which their NOTIFY asks
-- for. Every field of a payout event is fixed once the event exists (its
-- status is the event's, not the payout's current one), so a replay says
-- what was said live.
--
-- Each half of the view reads one table (earnings, payout_events) and builds
-- its JSON in a subquery per row: a half that joins cannot be merged into
-- its parent query, and then "a user's events after seq N, in seq order,
-- the first 500" would sort every later event of the user before taking
-- 500; this way PostgreSQL walks both (user_id, seq) indexes in order
-- (Merge Append) and builds JSON for the 500 only.
--
-- The WhatsApp outbox now holds a message per earning or per paid payout:
-- earning_id becomes optional, and payout_event_id names the payout_paid
-- event, unique like earning_id, so each paid payout has one message.

-- Up Migration

CREATE OR REPLACE VIEW earning_events AS
SELECT earning.user_id,
       earning.seq,
       earning.id AS earning_id,
       CASE WHEN earning.refund_id IS NULL THEN (
         SELECT row_to_json(credit)
         FROM purchases purchase
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
         WHERE purchase.id = earning.purchase_id)
       ELSE (
         SELECT row_to_json(reversal)
         FROM purchases purchase
         JOIN refunds refund ON refund.id = earning.refund_id
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
         ) reversal
         WHERE purchase.id = earning.purchase_id)
       END AS event
FROM earnings earning
UNION ALL
SELECT payout_event.user_id,
       payout_event.seq,
       NULL::bigint AS earning_id,
       CASE payout_event.type
         WHEN 'payout_created' THEN (
           SELECT row_to_json(created)
           FROM payouts payout
           CROSS JOIN LATERAL (
             SELECT payout_event.type AS "type",
                    payout_event.user_id AS "userId",
                    payout_event.seq AS "seq",
                    payout.id AS "payoutId",
                    decimal_text(payout.amount) AS "amount",
                    payout.currency AS "currency",
                    'pending' AS "status",
                    iso_utc(payout_event.created_at) AS "createdAt"
           ) created
           WHERE payout.id = payout_event.payout_id)
         WHEN 'payout_paid' THEN (
           SELECT row_to_json(paid)
           FROM payouts payout
           CROSS JOIN LATERAL (
             SELECT payout_event.type AS "type",
                    payout_event.user_id AS "userId",
                    payout_event.seq AS "seq",
                    payout.id AS "payoutId",
                    decimal_text(payout.amount) AS "amount",
                    payout.currency AS "currency",
                    'paid' AS "status",
                    payout.reference AS "reference",
                    iso_utc(payout_event.created_at) AS "createdAt"
           ) paid
           WHERE payout.id = payout_event.payout_id)
         ELSE (
           SELECT row_to_json(settled)
           FROM payouts payout
           CROSS JOIN LATERAL (
             SELECT payout_event.type AS "type",
                    payout_event.user_id AS "userId",
                    payout_event.seq AS "seq",
                    payout.id AS "payoutId",
                    decimal_text(payout.amount) AS "amount",
                    payout.currency AS "currency",
                    substr(payout_event.type, length('payout_') + 1) AS "status",
                    payout.reason AS "reason",
                    iso_utc(payout_event.created_at) AS "createdAt"
           ) settled
           WHERE payout.id = payout_event.payout_id)
       END AS event
FROM payout_events payout_event;

ALTER TABLE whatsapp_outbox
  ALTER COLUMN earning_id DROP NOT NULL,
  ADD COLUMN payout_event_id bigint REFERENCES payout_events (id),
  ADD CONSTRAINT whatsapp_outbox_payout_event_id_key UNIQUE (payout_event_id),
  ADD CONSTRAINT whatsapp_outbox_is_about_one_earning_or_payout CHECK ((earning_id IS NULL) <> (payout_event_id IS NULL));

-- Rule: every paid payout of a user with a phone number queues one WhatsApp
-- message, in the same transaction ("Your payout 7 of 99.99 INR was paid
-- (reference TX-2026-0042)."); its variables say kind "payout". One NOTIFY
-- per statement wakes a worker.
CREATE FUNCTION tg_payout_events__queue_whatsapp() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  queued bigint;
BEGIN
  INSERT INTO whatsapp_outbox (payout_event_id, user_id, recipient, variables)
  SELECT event.id, event.user_id, recipient.phone_number,
         jsonb_build_object(
           'kind', 'payout',
           'payoutId', payout.id,
           'amount', decimal_text(payout.amount),
           'currency', payout.currency,
           'reference', payout.reference)
  FROM new_events event
  JOIN payouts payout ON payout.id = event.payout_id
  JOIN users recipient ON recipient.id = event.user_id
  WHERE event.type = 'payout_paid'
    AND recipient.phone_number IS NOT NULL
  ORDER BY event.id;
  GET DIAGNOSTICS queued = ROW_COUNT;

  IF queued > 0 THEN
    PERFORM pg_notify('whatsapp_outbox', queued::text);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_payout_events__queue_whatsapp
  AFTER INSERT ON payout_events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_payout_events__queue_whatsapp();
