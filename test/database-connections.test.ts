// The bridge's connections (bridge/src/db.ts): they name themselves to the
// server, never JIT-compile a query, and hand money and big ids over as
// exact text, never as JavaScript numbers.

import { pino } from 'pino';
import { expect, test } from 'vitest';
import { connectDatabase } from '../bridge/src/db.js';
import { useTestDatabase } from './support/database.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();

test('a bridge connection is named referral-bridge, runs without JIT, and reads NUMERIC and BIGINT as text', async () => {
  const sql = connectDatabase(db.url, pino({ level: 'silent' }), { max: 1 });
  try {
    expect(onlyRow(await sql`
      SELECT current_setting('jit') AS jit,
             (SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS name,
             0.1::numeric + 0.2::numeric AS money,
             9007199254740993::bigint AS id`)).toEqual({ jit: 'off', name: 'referral-bridge', money: '0.3', id: '9007199254740993' });
  } finally {
    await sql.end();
  }
});
