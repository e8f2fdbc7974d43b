-- The WhatsApp outbox: one row per earning whose beneficiary has a phone
-- number, written by the database in the earning's own transaction, so a
-- rolled-back purchase sends nothing and a committed one always has its
-- message. The bridge's worker sends the rows through Twilio and records what
-- happened; the backlog lives here, never in the worker's memory.

-- Up Migration

CREATE TABLE whatsapp_outbox (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  earning_id         bigint NOT NULL REFERENCES earnings (id),
  user_id            integer NOT NULL REFERENCES users (id),
  -- The beneficiary's phone number when the earning was credited (E.164).
  recipient          text NOT NULL,
  -- What the message says, as template variables: the worker renders the
  -- free-form body or sends them to a Content template.
  variables          jsonb NOT NULL,
  status             text NOT NULL DEFAULT 'queued',
  attempts           integer NOT NULL DEFAULT 0,
  next_attempt_at    timestamptz NOT NULL DEFAULT now(),
  -- A worker that claims a row holds it until then; after it, another may.
  lease_expires_at   timestamptz,
  leased_by          text,
  twilio_sid         text UNIQUE,
  last_error_code    text,
  last_error_message text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  sent_at            timestamptz,
  CONSTRAINT whatsapp_outbox_earning_id_key UNIQUE (earning_id),
  CONSTRAINT whatsapp_outbox_status_is_known CHECK (status IN
    ('queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'undeliverable', 'skipped')),
  CONSTRAINT whatsapp_outbox_sending_has_a_lease CHECK (status <> 'sending' OR lease_expires_at IS NOT NULL)
);

-- The worker's claim query: due rows, oldest first.
CREATE INDEX whatsapp_outbox_due_idx ON whatsapp_outbox (next_attempt_at)
  WHERE status IN ('queued', 'sending');
CREATE INDEX whatsapp_outbox_user_id_idx ON whatsapp_outbox (user_id, id);

-- Rule: every earning of a user with a phone number queues one WhatsApp
-- message, in the same transaction; one NOTIFY per statement wakes a worker.
CREATE FUNCTION tg_earnings__queue_whatsapp() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  queued bigint;
BEGIN
  INSERT INTO whatsapp_outbox (earning_id, user_id, recipient, variables)
  SELECT earning.id, earning.user_id, beneficiary.phone_number,
         jsonb_build_object(
           'amount', decimal_text(earning.amount),
           'level', earning.level,
           'fromUserId', earning.source_user_id,
           'purchaseId', earning.purchase_id,
           'purchaseAmount', decimal_text(purchase.amount))
  FROM new_earnings earning
  JOIN users beneficiary ON beneficiary.id = earning.user_id
  JOIN purchases purchase ON purchase.id = earning.purchase_id
  WHERE beneficiary.phone_number IS NOT NULL
  ORDER BY earning.id;
  GET DIAGNOSTICS queued = ROW_COUNT;

  IF queued > 0 THEN
    PERFORM pg_notify('whatsapp_outbox', queued::text);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_earnings__queue_whatsapp
  AFTER INSERT ON earnings
  REFERENCING NEW TABLE AS new_earnings
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_earnings__queue_whatsapp();
