-- The original project's demo referral tree, with names. Loaded once, on the
-- first start of the embedded database; never into a DATABASE_URL database.
--
-- 1 Asha
-- ├── 2 Bilal        (referred by 1)
-- │   ├── 3 Chen     (referred by 2)
-- │   └── 4 Dana     (referred by 2)
-- └── 5 Elif         (referred by 1)
INSERT INTO users (id, name, referred_by) VALUES
  (1, 'Asha', NULL),
  (2, 'Bilal', 1),
  (3, 'Chen', 2),
  (4, 'Dana', 2),
  (5, 'Elif', 1);

-- The demo pays out at once: no holding period, so a newcomer sees a
-- commission available (and payable with SELECT * FROM create_payouts();)
-- right after the purchase. Production keeps the defaults: 30 days, and a
-- minimum payout of 50.00.
UPDATE program_settings SET holding_period = '0', currency = 'INR';
