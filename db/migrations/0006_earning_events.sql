-- The earning event, defined once: the JSON every subscriber receives, live
-- and on catch-up alike. The bridge sends the text built here unchanged.

-- Up Migration

-- Money as text, exact: "50.00", "99.9995".
CREATE FUNCTION decimal_text(value numeric) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT normalize_money(value)::text
$$;

CREATE VIEW earning_events AS
SELECT earning.user_id,
       earning.seq,
       earning.id AS earning_id,
       row_to_json(event) AS event
FROM earnings earning
JOIN purchases purchase ON purchase.id = earning.purchase_id
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
         to_char(earning.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"
) event;
