// One INSERT … SELECT of 100,000 purchases by one buyer: how long the
// statement takes, and until its 200,000 events (100,000 for hot, 100,000
// for root) have reached one subscriber of each, once each, in order. A
// subscriber whose connection closes resumes with `after`.

import { performance } from 'node:perf_hooks';
import { sampleResidentMemory } from '../../test/support/memory.js';
import { holdsWithin } from '../load.js';
import { mebibytes, millis, rate, resumesNote, secs } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

export const bulkPurchases = 100_000;

export const bulk: ScenarioDefinition = {
  title: 'bulk 100,000',
  perTransport: true,
  async run(bench, bridge) {
    const { db, fixture } = bench;
    const watchers = await Promise.all([fixture.hot, fixture.root].map((userId) => bench.subscribe(bridge, userId)));
    const memory = sampleResidentMemory(bridge.pid);
    bench.defer(() => memory.stop());
    const started = performance.now();
    await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${fixture.buyer(0)}::int, 1 FROM generate_series(1, ${bulkPurchases})`;
    const committed = performance.now();
    await holdsWithin('every event at its subscriber', 180_000,
      () => !bridge.running() || watchers.every((watcher) => watcher.tally.received >= bulkPurchases));
    const complete = watchers.every((watcher) => watcher.receivedExactly(bulkPurchases));
    const seconds = complete ? (Math.max(...watchers.map((watcher) => watcher.tally.lastEventAt)) - started) / 1000 : Number.NaN;
    for (const watcher of watchers) {
      const { received, repeated, skipped } = watcher.tally;
      bench.check(watcher.receivedExactly(bulkPurchases),
        `user ${watcher.userId}'s subscriber got each of ${bulkPurchases} events once, in order (${received} in order, ${repeated} repeated, ${skipped} skipped; ${resumesNote([watcher])})`);
    }
    bench.record('statement (commit)', [millis(committed - started, 0)]);
    bench.record('until every event reached its subscriber: s, events/s', [secs(seconds), rate((2 * bulkPurchases) / seconds)], resumesNote(watchers));
    bench.record('bridge peak RSS', [mebibytes(memory.stop())]);
  },
};
