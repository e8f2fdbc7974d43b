-- What the outbox knows about sends whose outcome nobody saw, and who a
-- message may still be sent to (below).
--
-- Twilio's Messages API has no idempotency key: a request that reached
-- Twilio and got no answer (a timeout or a broken connection after it was
-- written), or an answer that does not say "not taken" (a 500 from Twilio;
-- a 502, 504 or other 5xx but 503, which a gateway in front of Twilio gives
-- after it may have forwarded the request), or a send whose worker lost its
-- claim (it died, or could not record the outcome, so the lease ran out),
-- may or may not have been accepted. Sending it again may deliver it twice; never sending it again
-- may lose it. The rule: a message gets one further try after its first
-- unknown outcome, and none after its second, which fails it
-- (last_error_code OUTCOME_UNKNOWN). So Twilio is handed at most two copies
-- that it may have accepted, and a duplicate needs an unknown outcome first.
--
-- unknown_outcomes counts those sends; the constraint below keeps a message
-- with two of them from ever being queued or claimed again, whatever a
-- worker does.

-- Up Migration

ALTER TABLE whatsapp_outbox
  ADD COLUMN unknown_outcomes integer NOT NULL DEFAULT 0,
  ADD CONSTRAINT whatsapp_outbox_unknown_outcomes_is_a_count CHECK (unknown_outcomes >= 0),
  ADD CONSTRAINT whatsapp_outbox_second_unknown_outcome_ends_it
    CHECK (unknown_outcomes < 2 OR status NOT IN ('queued', 'sending'));

-- A message goes only to its user's current number. The outbox row keeps
-- the number the user had when the message was queued, and a user may
-- change or remove it while the message waits (Twilio down, retries backing
-- off). So each time a worker takes a message to send it (a claim, or the
-- lease renewal just before the request), the row reads its user's number
-- now: a changed number is the one it is sent to (the notification is
-- theirs; the old number may be someone else's by now), and a removed one
-- fails the message for good, as RECIPIENT_REMOVED, with the number erased
-- from the row. Nothing can recall a request already on its way to Twilio.

ALTER TABLE whatsapp_outbox
  ALTER COLUMN recipient DROP NOT NULL,
  ADD CONSTRAINT whatsapp_outbox_has_a_recipient_unless_removed
    CHECK (recipient IS NOT NULL OR (status = 'failed' AND last_error_code = 'RECIPIENT_REMOVED'));

-- Rule: a message taken for sending is addressed to its user's current
-- number, or, when the user has none, failed as RECIPIENT_REMOVED without
-- counting an attempt.
CREATE FUNCTION tg_whatsapp_outbox__send_to_current_number() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.recipient := (SELECT phone_number FROM users WHERE id = NEW.user_id);
  IF NEW.recipient IS NULL THEN
    NEW.status := 'failed';
    NEW.attempts := OLD.attempts;
    NEW.lease_expires_at := NULL;
    NEW.leased_by := NULL;
    NEW.last_error_code := 'RECIPIENT_REMOVED';
    NEW.last_error_message := 'the user removed their phone number before the message was sent';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER tg_whatsapp_outbox__send_to_current_number
  BEFORE UPDATE ON whatsapp_outbox
  FOR EACH ROW
  WHEN (NEW.status = 'sending')
  EXECUTE FUNCTION tg_whatsapp_outbox__send_to_current_number();
