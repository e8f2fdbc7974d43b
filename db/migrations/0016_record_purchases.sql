-- record_purchases(requests): many purchases in one call, each answered as
-- if it had been made alone. This is how the bridge records HTTP purchases
-- (one call per batch, in autocommit: no BEGIN/COMMIT round trips), and SQL
-- users who want receipts may call it too:
--
--   SELECT record_purchases('[{"userId": 4, "amount": "1000.00", "idempotencyKey": "order-17"},
--                             {"userId": 9999, "amount": 5}]');
--
-- Each request is an object {"userId", "amount" (a JSON number or a string
-- of a decimal), "idempotencyKey" (optional)}. The answer is an array of the
-- same length, in the same order, each element one of
--
--   {"outcome": "created",  "receipt": {"purchase": {…}, "earnings": [{…}]}}
--   {"outcome": "replayed", "receipt": …}   the key's earlier purchase, same user and amount
--   {"outcome": "refused",  "error": {"code": "USER_NOT_FOUND", "message": "…"}}
--
-- with the codes of docs/errors.md: INVALID_USER_ID, INVALID_AMOUNT,
-- INVALID_IDEMPOTENCY_KEY, USER_NOT_FOUND, IDEMPOTENCY_KEY_REUSED. A refused
-- request changes nothing and refuses nothing else: every rule a purchase
-- row must meet is checked here first, so that the one INSERT never fails
-- for one request's data. A request that is not an array of objects is the
-- caller's mistake, not a request's: the call raises and records nothing.
--
-- Ids come from the purchases sequence, as defaults do: a purchase inserted
-- elsewhere with an explicit id at or below the sequence (rather than past
-- it, as the demo data does) may take one of them, and then this call fails
-- as a whole with a unique violation, as a plain INSERT with a default id
-- would.
--
-- Why separate statements: a key taken by a transaction that commits while
-- this one waits is skipped by ON CONFLICT, and only a later statement's
-- snapshot (at READ COMMITTED) sees the purchase that took it. At
-- REPEATABLE READ and above PostgreSQL raises a serialization failure
-- (40001) instead, and the whole call may simply be run again.

-- Up Migration

-- What record_purchases says of a request it refuses: {"error": {"code", "message"}}.
CREATE FUNCTION refusal(code text, message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('error', jsonb_build_object('code', code, 'message', message))
$$;

-- What POST /api/purchase answers: the purchase and the credits it made,
-- by level, amounts as exact decimal text.
CREATE FUNCTION purchase_receipt(purchase_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'purchase', json_build_object(
      'id', p.id,
      'userId', p.user_id,
      'amount', decimal_text(p.amount),
      'createdAt', iso_utc(p.created_at),
      'idempotencyKey', p.idempotency_key),
    'earnings', coalesce((
      SELECT json_agg(json_build_object(
               'userId', e.user_id, 'level', e.level, 'rate', trim_scale(e.rate)::text,
               'amount', decimal_text(e.amount), 'seq', e.seq) ORDER BY e.level)
      FROM earnings e WHERE e.purchase_id = p.id AND e.refund_id IS NULL), '[]'))
  FROM purchases p WHERE p.id = purchase_receipt.purchase_id
$$;

CREATE FUNCTION record_purchases(requests jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  -- One element per request: position, and either the checked purchase
  -- (id taken from the sequence now, so that each inserted row is known
  -- by its request) or the error.
  checked jsonb;
  outcomes json;
BEGIN
  IF jsonb_typeof(requests) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'record_purchases takes a JSON array of purchase requests, not %', coalesce(jsonb_typeof(requests), 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass e.g. ''[{"userId": 4, "amount": "1000.00"}]''.';
  END IF;
  IF EXISTS (SELECT FROM jsonb_array_elements(requests) AS request WHERE jsonb_typeof(request) <> 'object') THEN
    RAISE EXCEPTION 'every purchase request must be a JSON object such as {"userId": 4, "amount": "1000.00"}'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  WITH request AS (
    SELECT position, body,
           body -> 'userId' AS user_id_json,
           CASE jsonb_typeof(body -> 'amount')
             WHEN 'number' THEN body ->> 'amount'
             WHEN 'string' THEN btrim(body ->> 'amount')
           END AS amount_text,
           body -> 'idempotencyKey' AS key_json
    FROM jsonb_array_elements(requests) WITH ORDINALITY AS element (body, position)
  ),
  parsed AS (
    SELECT request.*,
           -- CASE, not AND: only CASE promises to test before it casts.
           CASE WHEN jsonb_typeof(user_id_json) = 'number' THEN
             CASE WHEN (user_id_json::text)::numeric BETWEEN 1 AND 2147483647
                   AND (user_id_json::text)::numeric = trunc((user_id_json::text)::numeric)
               THEN (user_id_json::text)::numeric::integer
             END
           END AS user_id,
           -- The decimals numeric reads, with at most 40 digits on either
           -- side of the point and a 3-digit exponent (more could overflow
           -- numeric, and refuse the whole call); NaN and Infinity are not
           -- amounts.
           CASE WHEN amount_text ~ '^[+-]?([0-9]{1,40}(\.[0-9]{0,40})?|\.[0-9]{1,40})([eE][+-]?[0-9]{1,3})?$'
             THEN amount_text::numeric
           END AS amount,
           CASE jsonb_typeof(key_json) WHEN 'string' THEN key_json #>> '{}' END AS idempotency_key
    FROM request
  ),
  buyer AS (
    -- Locked against deletion until this transaction ends, so that "exists"
    -- stays true for the INSERT below.
    SELECT id FROM users
    WHERE id IN (SELECT user_id FROM parsed)
    FOR KEY SHARE
  )
  SELECT jsonb_agg(jsonb_build_object('position', parsed.position) || CASE
           WHEN parsed.user_id IS NULL THEN
             refusal('INVALID_USER_ID', 'userId must be a positive integer')
           WHEN parsed.amount IS NULL THEN
             refusal('INVALID_AMOUNT', 'amount must be a decimal number (or a string of one) such as 1000 or "1999.99"')
           WHEN parsed.amount <= 0 THEN
             refusal('INVALID_AMOUNT', 'amount must be greater than 0')
           WHEN parsed.amount > 999999999999.99 THEN
             refusal('INVALID_AMOUNT', 'amount must be at most 999999999999.99')
           WHEN parsed.amount <> round(parsed.amount, 2) THEN
             refusal('INVALID_AMOUNT', 'amount must have at most 2 decimals (it is never rounded)')
           WHEN parsed.key_json IS NOT NULL AND jsonb_typeof(parsed.key_json) <> 'null'
                AND (parsed.idempotency_key IS NULL OR parsed.idempotency_key !~ '^[\x21-\x7E]{1,200}$') THEN
             refusal('INVALID_IDEMPOTENCY_KEY', 'idempotencyKey must be 1 to 200 visible ASCII characters (no spaces)')
           WHEN NOT EXISTS (SELECT FROM buyer WHERE buyer.id = parsed.user_id) THEN
             refusal('USER_NOT_FOUND', format('there is no user %s', parsed.user_id))
           ELSE jsonb_build_object(
             'id', nextval('purchases_id_seq'::regclass),
             'userId', parsed.user_id,
             'amount', parsed.amount,
             'idempotencyKey', parsed.idempotency_key)
         END ORDER BY parsed.position)
  INTO checked
  FROM parsed;

  -- One statement for every purchase that passed: the trigger credits the
  -- referrers once for all. A key already taken (earlier, or by a request
  -- above in this same array) skips its row. Rows go in key order, so that
  -- two calls with the same keys in other orders wait for each other
  -- rather than deadlock.
  INSERT INTO purchases (id, user_id, amount, idempotency_key)
  SELECT (purchase ->> 'id')::bigint, (purchase ->> 'userId')::integer,
         (purchase ->> 'amount')::numeric, purchase ->> 'idempotencyKey'
  FROM jsonb_array_elements(coalesce(checked, '[]')) AS purchase
  WHERE purchase ? 'id'
  ORDER BY purchase ->> 'idempotencyKey' NULLS LAST, (purchase ->> 'position')::integer
  ON CONFLICT (idempotency_key) DO NOTHING;

  SELECT json_agg(CASE
           WHEN request ? 'error' THEN json_build_object('outcome', 'refused', 'error', request -> 'error')
           WHEN own.id IS NOT NULL THEN json_build_object('outcome', 'created', 'receipt', purchase_receipt(own.id))
           WHEN earlier.user_id = (request ->> 'userId')::integer AND earlier.amount = (request ->> 'amount')::numeric THEN
             json_build_object('outcome', 'replayed', 'receipt', purchase_receipt(earlier.id))
           ELSE json_build_object('outcome', 'refused', 'error', refusal(
             'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different purchase; use a new key for a new purchase') -> 'error')
         END ORDER BY (request ->> 'position')::integer)
  INTO outcomes
  FROM jsonb_array_elements(coalesce(checked, '[]')) AS request
  LEFT JOIN purchases own ON own.id = (request ->> 'id')::bigint
  LEFT JOIN purchases earlier ON own.id IS NULL AND earlier.idempotency_key = request ->> 'idempotencyKey';

  RETURN coalesce(outcomes, '[]');
END;
$$;
