// 100 subscribers that read slowly (a few milliseconds in every 20, their
// TCP sockets paused in between), 50 on each user a bulk insert of 100,000
// purchases credits: the bridge pages them from the database at their pace.
// How long until each has every event, once each, in order, and the
// bridge's peak memory meanwhile.

import { performance } from 'node:perf_hooks';
import { residentMiB, sampleResidentMemory } from '../../test/support/memory.js';
import { holdsWithin } from '../load.js';
import { mebibytes, resumesNote, secs } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';
import { bulkPurchases } from './5-bulk.js';

const subscribers = 100;

export const slowSubscribers: ScenarioDefinition = {
  title: 'slow subscribers',
  perTransport: true,
  async run(bench, bridge) {
    const { hot, root, buyer } = bench.fixture;
    const readers = await Promise.all(Array.from({ length: subscribers }, (_, index) => bench.subscribe(bridge, index % 2 === 0 ? hot : root)));
    for (const reader of readers) reader.readSlowly(20, 2);
    const rssBefore = residentMiB(bridge.pid);
    const memory = sampleResidentMemory(bridge.pid);
    bench.defer(() => memory.stop());
    const started = performance.now();
    await bench.db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer(0)}::int, 1 FROM generate_series(1, ${bulkPurchases})`;
    await holdsWithin('every slow subscriber to get every event', bench.full ? 900_000 : 600_000,
      () => !bridge.running() || readers.every((reader) => reader.tally.received >= bulkPurchases));
    const peak = memory.stop();
    const exact = readers.filter((reader) => reader.receivedExactly(bulkPurchases)).length;
    const seconds = exact < subscribers ? Number.NaN : (Math.max(...readers.map((reader) => reader.tally.lastEventAt)) - started) / 1000;
    const short = readers.filter((reader) => reader.tally.received < bulkPurchases).map((reader) => reader.tally.received);
    bench.check(exact === subscribers, `each of ${subscribers} slow subscribers got each of ${bulkPurchases} events once, in order (${exact} did; ` +
      `${short.length} short of it, the furthest behind at ${Math.min(...short, bulkPurchases)}; ${resumesNote(readers)})`);
    bench.record(`time until all ${subscribers} had all ${bulkPurchases.toLocaleString('en')} events`, [secs(seconds)], resumesNote(readers));
    bench.record('bridge RSS: before, peak', [mebibytes(rssBefore), mebibytes(peak)]);
  },
};
