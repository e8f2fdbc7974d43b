// Every scenario of `npm run bench`, in the order they run: each one's id
// (its number in --only, in the table and in its file's name) is its place here.

import type { Scenario } from '../runner.js';
import { sqlCeiling } from './1-sql-ceiling.js';
import { httpPurchases } from './2-http-purchases.js';
import { commitToSocket } from './3-commit-to-socket.js';
import { manySubscribers } from './4-many-subscribers.js';
import { bulk } from './5-bulk.js';
import { hotReferrer } from './6-hot-referrer.js';
import { whatsappDrain } from './7-whatsapp-drain.js';
import { slowSubscribers } from './8-slow-subscribers.js';
import { insidePostgres } from './9-inside-postgres.js';

export const scenarios: Scenario[] = [sqlCeiling, httpPurchases, commitToSocket, manySubscribers, bulk, hotReferrer, whatsappDrain, slowSubscribers, insidePostgres]
  .map((definition, index) => ({ ...definition, id: index + 1 }));
