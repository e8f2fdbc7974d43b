-- Times as the API writes them, from one function: ISO 8601 in UTC with
-- milliseconds ("2026-11-25T13:12:01.239Z"), the form JavaScript's Date reads
-- and prints. The event view used to spell the format out, as did four
-- queries of the bridge; they all call iso_utc now.

-- Up Migration

-- STABLE, not IMMUTABLE: to_char depends on settings in general (not for
-- this format, but PostgreSQL cannot know that).
CREATE FUNCTION iso_utc(moment timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
  SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE OR REPLACE VIEW earning_events AS
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
         iso_utc(earning.created_at) AS "createdAt"
) event;
