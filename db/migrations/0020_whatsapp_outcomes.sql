-- What the outbox knows about sends whose outcome nobody saw.
--
-- Twilio's Messages API has no idempotency key: a request that reached
-- Twilio and got no answer (a timeout or a broken connection after it was
-- written), or a send whose worker lost its claim (it died, or could not
-- record the outcome, so the lease ran out), may or may not have been
-- accepted. Sending it again may deliver it twice; never sending it again
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
