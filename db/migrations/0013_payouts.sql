-- Balances by state, and payouts. A user's money is in one of four states,
-- computed from the ledger and the payouts whenever it is read, never stored
-- twice:
--
--   pending    earnings not yet past their available_at (0012): credits in
--              their holding period, net of the reversals of those credits;
--   available  earnings past their available_at (reversals of available or
--              paid credits at once), less what payouts hold or have paid;
--   in_payout  held by payouts not yet paid;
--   paid       paid out.
--
-- The four add up to the user's exact total, the sum of their earnings. A
-- reversal of a commission already paid makes available negative (a
-- clawback): the user gets no payout until new earnings cover it.
--
-- create_payouts() creates one payout for each user whose available balance
-- is at least the program's minimum_payout, for that balance rounded down to
-- whole cents; the sub-cent remainder stays available for the next one, so
-- over any number of payouts nothing is lost or invented. A payout is
-- pending, then paid (with the transfer's reference), failed (its amount is
-- available again) or canceled (likewise); those three are final.
--
-- The same money is never paid twice, at any isolation level. Whatever
-- lowers a user's available balance — a reversal, a payout — also takes the
-- user's next seq, so it updates the user's row of earning_sequences, and
-- every insert of payouts locks those rows (in user id order, as every
-- ledger statement does) before it reads the balances it checks. At READ
-- COMMITTED a second create_payouts() waits for the first to commit, then
-- sees its payouts and finds nothing left to pay; at REPEATABLE READ and
-- SERIALIZABLE it fails with 40001 instead of paying from an old snapshot,
-- and is run again. create_payouts() locks seq counters only, in user id
-- order, so it never deadlocks with purchases and refunds; marking a payout
-- locks the payout, then its user's counter.
--
-- Every payout event (payout_created, payout_paid, payout_failed,
-- payout_canceled) takes the user's next seq from the same counter as
-- earnings, so a subscriber sees credits, reversals and payouts in one
-- gap-free stream. They carry no earning id, so their NOTIFY names the users
-- instead of an id range: {"users":[2,5]}, or {"users":"all"} when a
-- statement concerns more than 100 users.

-- Up Migration

-- The program's currency label, stamped on each payout as it is created.
CREATE FUNCTION program_currency() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT currency FROM program_settings
$$;

CREATE TABLE payouts (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    integer NOT NULL REFERENCES users (id),
  -- Whole cents, taken from the user's available balance.
  amount     numeric NOT NULL,
  currency   text NOT NULL DEFAULT program_currency(),
  status     text NOT NULL DEFAULT 'pending',
  -- The transfer's id at the bank or PayPal, given when it is marked paid.
  reference  text,
  -- Why it failed or was canceled, if anyone said.
  reason     text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  paid_at    timestamptz,
  -- Checked in name order: the first failure is the most useful one.
  CONSTRAINT payouts_amount_is_a_number CHECK (amount <> 'NaN'),
  CONSTRAINT payouts_amount_is_positive CHECK (amount > 0),
  CONSTRAINT payouts_amount_is_whole_cents CHECK (amount = round(amount, 2)),
  CONSTRAINT payouts_paid_at_is_when_paid CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
  CONSTRAINT payouts_reason_is_at_most_500_characters CHECK (length(reason) <= 500),
  CONSTRAINT payouts_reason_is_for_a_failed_or_canceled_payout CHECK (reason IS NULL OR status IN ('failed', 'canceled')),
  CONSTRAINT payouts_reference_has_no_control_characters CHECK (reference !~ '[[:cntrl:]]'),
  CONSTRAINT payouts_reference_is_1_to_200_characters CHECK (length(reference) BETWEEN 1 AND 200),
  CONSTRAINT payouts_reference_is_given_when_paid CHECK ((status = 'paid') = (reference IS NOT NULL)),
  CONSTRAINT payouts_reference_is_not_blank CHECK (btrim(reference) <> ''),
  CONSTRAINT payouts_status_is_known CHECK (status IN ('pending', 'paid', 'failed', 'canceled'))
);

-- A user's payouts (and the balance's sums); the operator's list by status;
-- the export of a period.
CREATE INDEX payouts_user_id_idx ON payouts (user_id, id) INCLUDE (status, amount);
CREATE INDEX payouts_status_idx ON payouts (status, id);
CREATE INDEX payouts_created_at_idx ON payouts (created_at);

-- Each user's money by state, now (ledger_now()): see the top of this file.
-- Amounts read as the API writes them (99.9995, 0.00). next_available_at is
-- when the earliest pending money becomes available.
CREATE VIEW user_balances AS
SELECT u.id AS user_id,
       normalize_money(coalesce(ledger.pending, 0)) AS pending,
       normalize_money(coalesce(ledger.matured, 0) - coalesce(held.in_payout, 0) - coalesce(held.paid, 0)) AS available,
       normalize_money(coalesce(held.in_payout, 0)) AS in_payout,
       normalize_money(coalesce(held.paid, 0)) AS paid,
       normalize_money(coalesce(ledger.pending, 0) + coalesce(ledger.matured, 0)) AS total,
       (SELECT min(maturing.available_at)
        FROM (SELECT e.available_at FROM earnings e
              WHERE e.user_id = u.id AND e.available_at > ledger_now()
              GROUP BY e.available_at HAVING sum(e.amount) <> 0) maturing) AS next_available_at
FROM users u
LEFT JOIN (
  SELECT user_id,
         sum(amount) FILTER (WHERE available_at > ledger_now()) AS pending,
         sum(amount) FILTER (WHERE available_at <= ledger_now()) AS matured
  FROM earnings
  GROUP BY user_id
) ledger ON ledger.user_id = u.id
LEFT JOIN (
  SELECT user_id,
         sum(amount) FILTER (WHERE status = 'pending') AS in_payout,
         sum(amount) FILTER (WHERE status = 'paid') AS paid
  FROM payouts
  GROUP BY user_id
) held ON held.user_id = u.id;

-- One user's balance (no row for an unknown user): SELECT * FROM user_balance(2).
CREATE FUNCTION user_balance(user_id integer) RETURNS SETOF user_balances
LANGUAGE sql STABLE AS $$
  SELECT * FROM user_balances balance WHERE balance.user_id = user_balance.user_id
$$;

-- Every payout event, on its user's seq stream. Written only by the payouts
-- triggers; never changed.
CREATE TABLE payout_events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payout_id  bigint NOT NULL REFERENCES payouts (id),
  user_id    integer NOT NULL REFERENCES users (id),
  seq        bigint NOT NULL CONSTRAINT payout_events_seq_is_positive CHECK (seq >= 1),
  type       text NOT NULL CONSTRAINT payout_events_type_is_known
               CHECK (type IN ('payout_created', 'payout_paid', 'payout_failed', 'payout_canceled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payout_events_payout_id_type_key UNIQUE (payout_id, type),
  -- Also the index of the history query: a user's events after a seq.
  CONSTRAINT payout_events_user_id_seq_key UNIQUE (user_id, seq)
);

-- Appends one event per (payout, user, type), each with its user's next seq,
-- reserving seqs in user id order exactly as the earnings triggers do, and
-- sends one NOTIFY naming the users. Called by the payouts triggers only
-- (earning_sequences and payout_events refuse writes from anywhere else).
CREATE FUNCTION append_payout_events(payout_ids bigint[], user_ids integer[], event_types text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  announced integer[];
BEGIN
  WITH due AS (
    SELECT event.payout_id, event.user_id, event.type,
           row_number() OVER (PARTITION BY event.user_id ORDER BY event.payout_id) AS nth_for_user,
           count(*) OVER (PARTITION BY event.user_id) AS count_for_user
    FROM unnest(payout_ids, user_ids, event_types) AS event (payout_id, user_id, type)
  ),
  reserved AS (
    INSERT INTO earning_sequences AS counter (user_id, last_seq)
    SELECT user_id, count(*)
    FROM due
    GROUP BY user_id
    ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET last_seq = counter.last_seq + excluded.last_seq
    RETURNING user_id, last_seq
  ),
  appended AS (
    INSERT INTO payout_events (payout_id, user_id, seq, type)
    SELECT due.payout_id, due.user_id, reserved.last_seq - due.count_for_user + due.nth_for_user, due.type
    FROM due
    JOIN reserved USING (user_id)
    ORDER BY due.payout_id
    RETURNING user_id
  )
  SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO announced FROM appended;

  -- A hint, not the record: listeners catch these users up by seq. Kept
  -- well under NOTIFY's 8000 bytes however many users a statement pays.
  IF announced IS NOT NULL THEN
    PERFORM pg_notify('earnings', json_build_object(
      'users', CASE WHEN cardinality(announced) <= 100 THEN to_json(announced) ELSE to_json('all'::text) END
    )::text);
  END IF;
END;
$$;

-- Rule: a payout starts pending and takes no more than its user's available
-- balance. The users' seq counters are locked first, in user id order, so
-- that the balances read next are the latest committed ones (or, at
-- REPEATABLE READ and above, the lock fails with 40001 if they changed).
CREATE FUNCTION tg_payouts__forbid_exceeding_available() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  overdrawn record;
BEGIN
  IF EXISTS (SELECT FROM new_payouts WHERE status <> 'pending') THEN
    RAISE EXCEPTION 'a payout starts pending'
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'payouts_start_pending',
            HINT = 'Insert it pending, then mark it paid, failed or canceled: mark_payout_paid(id, reference), mark_payout_failed(id, reason), cancel_payout(id, reason).';
  END IF;

  PERFORM FROM earning_sequences
  WHERE user_id IN (SELECT user_id FROM new_payouts)
  ORDER BY user_id
  FOR UPDATE;

  SELECT balance.user_id, requested.amount AS requested, balance.available + requested.amount AS available
  INTO overdrawn
  FROM (SELECT user_id, sum(amount) AS amount FROM new_payouts GROUP BY user_id) requested
  CROSS JOIN LATERAL user_balance(requested.user_id) balance
  WHERE balance.available < 0
  ORDER BY balance.user_id
  LIMIT 1;

  IF FOUND THEN
    RAISE EXCEPTION 'a payout of % would exceed the available balance of user %, which is %',
        decimal_text(overdrawn.requested), overdrawn.user_id, decimal_text(overdrawn.available)
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'payouts_do_not_exceed_the_available_balance',
            HINT = 'Pay at most what is available (SELECT * FROM user_balance(user_id)); create_payouts() works it out.';
  END IF;

  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_payouts__forbid_exceeding_available
  AFTER INSERT ON payouts
  REFERENCING NEW TABLE AS new_payouts
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_payouts__forbid_exceeding_available();

-- Rule: every new payout is announced to its user as payout_created.
CREATE FUNCTION tg_payouts__record_created_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM append_payout_events(array_agg(id), array_agg(user_id), array_agg('payout_created'::text))
  FROM new_payouts;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_payouts__record_created_events
  AFTER INSERT ON payouts
  REFERENCING NEW TABLE AS new_payouts
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_payouts__record_created_events();

-- Rule: a payout's status moves once, from pending to paid (with a
-- reference), failed or canceled (each with an optional reason); nothing
-- else about it ever changes. An update that changes nothing is allowed and
-- does nothing, so marking a payout as it already is (paid with the same
-- reference, say) is a harmless repeat.
CREATE FUNCTION tg_payouts__enforce_status_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.id, NEW.user_id, NEW.amount, NEW.currency, NEW.created_at)
       IS DISTINCT FROM (OLD.id, OLD.user_id, OLD.amount, OLD.currency, OLD.created_at) THEN
    RAISE EXCEPTION 'payouts cannot change their id, user_id, amount, currency or created_at'
      USING ERRCODE = 'restrict_violation',
            HINT = 'A payout holds the money it was created for. Cancel it (cancel_payout(id, reason)) and run create_payouts() again.';
  END IF;

  IF (NEW.status, NEW.reference, NEW.reason) IS NOT DISTINCT FROM (OLD.status, OLD.reference, OLD.reason) THEN
    RETURN OLD;
  END IF;

  IF OLD.status <> 'pending' THEN
    RAISE EXCEPTION 'payout % is already %: it cannot be %', OLD.id,
        OLD.status || coalesce(' (reference ' || OLD.reference || ')', ''),
        CASE NEW.status WHEN 'canceled' THEN 'canceled' WHEN 'pending' THEN 'pending again'
          ELSE 'marked ' || NEW.status || coalesce(' with reference ' || NEW.reference, '') END
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'payouts_status_changes_only_from_pending',
            HINT = 'Only a pending payout can be marked paid, failed or canceled; paid, failed and canceled are final. The amount of a failed or canceled payout is available again, for the next payout.';
  END IF;

  NEW.updated_at := now();
  NEW.paid_at := CASE WHEN NEW.status = 'paid' THEN now() END;
  RETURN NEW;
END;
$$;

CREATE TRIGGER tg_payouts__enforce_status_transitions
  BEFORE UPDATE ON payouts
  FOR EACH ROW
  EXECUTE FUNCTION tg_payouts__enforce_status_transitions();

-- Rule: every change of a payout's status is announced to its user:
-- payout_paid, payout_failed or payout_canceled.
CREATE FUNCTION tg_payouts__record_status_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM append_payout_events(array_agg(changed.id), array_agg(changed.user_id), array_agg('payout_' || changed.status))
  FROM new_payouts changed
  JOIN old_payouts was ON was.id = changed.id
  WHERE changed.status <> was.status;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_payouts__record_status_events
  AFTER UPDATE ON payouts
  REFERENCING OLD TABLE AS old_payouts NEW TABLE AS new_payouts
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_payouts__record_status_events();

-- Rule: a payout is never deleted: it is a record of money held or paid.
CREATE FUNCTION tg_payouts__forbid_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'payouts cannot be deleted'
    USING ERRCODE = 'restrict_violation',
          HINT = 'A payout records money held or paid. Cancel a pending one with cancel_payout(id, reason): its amount is available again.';
END;
$$;

CREATE TRIGGER tg_payouts__forbid_delete
  BEFORE DELETE ON payouts
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_payouts__forbid_delete();

CREATE TRIGGER tg_payouts__forbid_truncate
  BEFORE TRUNCATE ON payouts
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

-- Rule: payout events are appended only by the payouts triggers (through
-- append_payout_events), and never changed.
CREATE FUNCTION tg_payout_events__only_from_payouts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' OR pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'payout_events cannot be changed directly'
      USING ERRCODE = 'restrict_violation',
            HINT = 'Each row is an event its user has been sent. Create payouts with create_payouts() and mark them with mark_payout_paid, mark_payout_failed or cancel_payout; their triggers record the events.';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_payout_events__only_from_payouts
  BEFORE INSERT OR UPDATE OR DELETE ON payout_events
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_payout_events__only_from_payouts();

CREATE TRIGGER tg_payout_events__forbid_truncate
  BEFORE TRUNCATE ON payout_events
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg__forbid_truncate();

-- Pays every user whose available balance is at least minimum_payout: one
-- payout each, of that balance rounded down to whole cents (the sub-cent
-- rest stays available). Returns the payouts it created. See the top of
-- this file for why two runs at once never pay the same money twice.
CREATE FUNCTION create_payouts() RETURNS SETOF payouts
LANGUAGE plpgsql AS $$
DECLARE
  settings program_settings;
  -- A balance of 0.009 rounds down to no payout at all, whatever the minimum.
  least_payout numeric;
  candidates integer[];
BEGIN
  SELECT * INTO STRICT settings FROM program_settings;
  least_payout := greatest(settings.minimum_payout, 0.01);

  SELECT array_agg(user_id ORDER BY user_id) INTO candidates
  FROM user_balances
  WHERE trunc(available, 2) >= least_payout;

  -- Lock the candidates' seq counters in user id order; then read their
  -- balances again: at READ COMMITTED this next statement sees whatever
  -- committed while it waited.
  PERFORM FROM earning_sequences
  WHERE user_id = ANY (candidates)
  ORDER BY user_id
  FOR UPDATE;

  RETURN QUERY
  WITH created AS (
    INSERT INTO payouts (user_id, amount, currency)
    -- trunc: down to whole cents, for the positive balances paid here.
    SELECT candidate.user_id, trunc(balance.available, 2), settings.currency
    FROM unnest(candidates) AS candidate (user_id)
    CROSS JOIN LATERAL user_balance(candidate.user_id) balance
    WHERE trunc(balance.available, 2) >= least_payout
    ORDER BY candidate.user_id
    RETURNING *
  )
  SELECT * FROM created ORDER BY id;
END;
$$;

-- Moves a pending payout to its final status; the trigger above refuses any
-- other move. Unknown payouts are named as such.
CREATE FUNCTION settle_payout(payout_id bigint, status text, reference text, reason text) RETURNS payouts
LANGUAGE plpgsql AS $$
DECLARE
  payout payouts;
BEGIN
  UPDATE payouts
  SET status = settle_payout.status, reference = settle_payout.reference, reason = settle_payout.reason
  WHERE id = payout_id
  RETURNING * INTO payout;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'there is no payout %', payout_id
      USING ERRCODE = 'no_data_found',
            CONSTRAINT = 'payouts_payout_exists',
            HINT = 'SELECT * FROM payouts WHERE status = ''pending'' lists the payouts waiting to be paid.';
  END IF;
  RETURN payout;
END;
$$;

-- The transfer went through: SELECT * FROM mark_payout_paid(7, 'TX-2026-0042')
-- records the bank's or PayPal's transfer id. A repeat with the same
-- reference returns the payout as it is.
CREATE FUNCTION mark_payout_paid(payout_id bigint, reference text) RETURNS payouts
LANGUAGE sql AS $$
  SELECT settle_payout(payout_id, 'paid', reference, NULL)
$$;

-- The transfer failed: the amount is available again, for the next payout.
CREATE FUNCTION mark_payout_failed(payout_id bigint, reason text DEFAULT NULL) RETURNS payouts
LANGUAGE sql AS $$
  SELECT settle_payout(payout_id, 'failed', NULL, reason)
$$;

-- The payout will not be sent: the amount is available again, for the next payout.
CREATE FUNCTION cancel_payout(payout_id bigint, reason text DEFAULT NULL) RETURNS payouts
LANGUAGE sql AS $$
  SELECT settle_payout(payout_id, 'canceled', NULL, reason)
$$;
