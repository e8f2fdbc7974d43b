// The program's settings (one row of program_settings): read by anyone,
// changed with the API key. A change applies from the moment it commits;
// earnings keep what they were credited with.

import type { Sql } from './db.js';
import type { SettingsChange } from './payout-input.js';

/** The settings as the API shows them, as JSON built by PostgreSQL; the row aliased s. */
const settingsJson = (sql: Sql) => sql`json_build_object(
  'holdingPeriod', iso_8601_duration(s.holding_period),
  'minimumPayout', decimal_text(s.minimum_payout),
  'minimumPurchaseAmount', decimal_text(s.minimum_purchase_amount),
  'currency', s.currency,
  'updatedAt', iso_utc(s.updated_at))`;

export async function readSettings(sql: Sql): Promise<unknown> {
  const [row] = await sql<{ settings: unknown }[]>`SELECT ${settingsJson(sql)} AS settings FROM program_settings s`;
  return row!.settings;
}

/** Changes the settings named (null: unchanged); the database checks every value. */
export async function changeSettings(sql: Sql, change: SettingsChange): Promise<unknown> {
  const [row] = await sql<{ settings: unknown }[]>`
    UPDATE program_settings s SET
      holding_period = coalesce(${change.holdingPeriod}::interval, s.holding_period),
      minimum_payout = coalesce(${change.minimumPayout}::numeric, s.minimum_payout),
      minimum_purchase_amount = coalesce(${change.minimumPurchaseAmount}::numeric, s.minimum_purchase_amount),
      currency = coalesce(${change.currency}::text, s.currency)
    RETURNING ${settingsJson(sql)} AS settings`;
  return row!.settings;
}
