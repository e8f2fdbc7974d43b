-- What the dashboard reads by time (bridge/src/dashboard.ts), without
-- reading whole tables:
--
-- * a user's earnings per day for the last 30 days: from the user's
--   earnings in time order, amounts in the index itself (on 2 million
--   earnings, a busy referrer's chart read every earning they ever had,
--   about 220 ms, each time the page refreshed it);
-- * this month's top referrers and the last hour's rates: from the blocks
--   written since then. Rows are appended in time order, so a BRIN index
--   (a few pages, almost free to keep up) finds them; autovacuum
--   summarises each range of blocks as it fills.
--
-- The program's all-time totals still read every row: they are totals.

-- Up Migration

CREATE INDEX earnings_user_id_created_at_idx ON earnings (user_id, created_at) INCLUDE (amount);
CREATE INDEX earnings_created_at_brin_idx ON earnings USING brin (created_at) WITH (autosummarize = on);
CREATE INDEX purchases_created_at_brin_idx ON purchases USING brin (created_at) WITH (autosummarize = on);
