-- A purchase as the API shows it, written once: the receipt of
-- POST /api/purchase (purchase_receipt) and GET /api/purchases/:purchaseId
-- both show a purchase through this function, so the two can never differ.

-- Up Migration

CREATE FUNCTION purchase_json(p purchases) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT json_build_object(
    'id', p.id,
    'userId', p.user_id,
    'amount', decimal_text(p.amount),
    'createdAt', iso_utc(p.created_at),
    'idempotencyKey', p.idempotency_key)
$$;

CREATE OR REPLACE FUNCTION purchase_receipt(purchase_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'purchase', purchase_json(p),
    'earnings', coalesce((
      SELECT json_agg(json_build_object(
               'userId', e.user_id, 'level', e.level, 'rate', trim_scale(e.rate)::text,
               'amount', decimal_text(e.amount), 'seq', e.seq) ORDER BY e.level)
      FROM earnings e WHERE e.purchase_id = p.id AND e.refund_id IS NULL), '[]'))
  FROM purchases p WHERE p.id = purchase_receipt.purchase_id
$$;
