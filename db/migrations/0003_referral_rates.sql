-- What each referral level earns, as a fraction of the purchase amount.
-- The earnings trigger walks as many levels up the referral tree as this table
-- defines (at most 5), so an operator adds a level with one INSERT. A change
-- applies to purchases inserted after it commits: each earning keeps its rate.

-- Up Migration

CREATE TABLE referral_rates (
  level integer PRIMARY KEY
        CONSTRAINT referral_rates_level_is_1_to_5 CHECK (level BETWEEN 1 AND 5),
  rate  numeric NOT NULL
        CONSTRAINT referral_rates_rate_is_above_0_and_at_most_1 CHECK (rate > 0 AND rate <= 1)
);

INSERT INTO referral_rates (level, rate) VALUES
  (1, 0.05),
  (2, 0.01);
