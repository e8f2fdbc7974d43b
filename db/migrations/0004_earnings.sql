-- The earnings ledger, with the original columns (id, user_id, source_user_id,
-- level, amount, purchase_id, created_at) plus the rate each earning used and
-- seq: a per-beneficiary sequence number, gap-free (1, 2, 3 ... for each user)
-- and increasing in commit order, so a subscriber can resume with "everything
-- after seq N" and miss nothing. Earnings are written only by the purchases
-- trigger (next migration) and never changed afterwards.

-- Up Migration

CREATE TABLE earnings (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id        integer NOT NULL REFERENCES users (id),
  source_user_id integer NOT NULL REFERENCES users (id),
  level          integer NOT NULL CONSTRAINT earnings_level_is_1_to_5 CHECK (level BETWEEN 1 AND 5),
  amount         numeric NOT NULL,
  purchase_id    bigint NOT NULL REFERENCES purchases (id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  rate           numeric NOT NULL,
  seq            bigint NOT NULL CONSTRAINT earnings_seq_is_positive CHECK (seq >= 1),
  CONSTRAINT earnings_purchase_id_level_key UNIQUE (purchase_id, level),
  -- Also the index of the history query: a user's events after a seq.
  CONSTRAINT earnings_user_id_seq_key UNIQUE (user_id, seq)
);

-- The summary query (totals by level for one user) reads only this index.
CREATE INDEX earnings_user_id_level_idx ON earnings (user_id, level) INCLUDE (amount);

-- The last seq handed out to each beneficiary. Crediting a user updates this
-- row, and its row lock, held until commit, makes concurrent credits to the
-- same user take turns: that is what makes seq gap-free and commit-ordered.
CREATE TABLE earning_sequences (
  user_id  integer PRIMARY KEY REFERENCES users (id),
  last_seq bigint NOT NULL CONSTRAINT earning_sequences_last_seq_is_positive CHECK (last_seq >= 1)
);

-- Rule: earnings are inserted only by the purchases trigger, which keeps seq
-- and amounts right; nobody inserts them by hand.
CREATE FUNCTION tg_earnings__only_from_purchases() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'earnings cannot be inserted directly'
      USING ERRCODE = 'restrict_violation',
            HINT = 'Insert a purchase; its trigger credits the referrers.';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tg_earnings__only_from_purchases
  BEFORE INSERT ON earnings
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_earnings__only_from_purchases();

-- Rule: the ledger is append-only.
CREATE FUNCTION tg_earnings__forbid_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'earnings cannot be updated or deleted'
    USING ERRCODE = 'restrict_violation',
          HINT = 'The earnings ledger is append-only.';
END;
$$;

CREATE TRIGGER tg_earnings__forbid_changes
  BEFORE UPDATE OR DELETE ON earnings
  FOR EACH STATEMENT
  EXECUTE FUNCTION tg_earnings__forbid_changes();
