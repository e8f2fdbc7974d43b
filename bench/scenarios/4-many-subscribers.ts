// 10,000 WebSocket subscribers on one bridge: how long they take to
// subscribe, what they cost the bridge in memory, and how fast a hot
// referrer's events reach the 1,000 of them that follow it (each once, in
// order; the other 9,000 follow 1,000 separate referrers nobody credits here).

import { performance } from 'node:perf_hooks';
import type { StreamSubscriber } from '../../test/support/event-stream.js';
import { residentMiB } from '../../test/support/memory.js';
import { holdsWithin } from '../load.js';
import { mebibytes, rate, secs } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

const sockets = 10_000;
const onHot = 1_000;
const eventsEach = 200;

export const manySubscribers: ScenarioDefinition = {
  title: 'many subscribers',
  perTransport: true,
  async run(bench, bridge) {
    const { db, fixture } = bench;
    const rssBefore = residentMiB(bridge.pid);
    const crowd: StreamSubscriber[] = [];
    const connectStart = performance.now();
    for (let batch = 0; crowd.length < sockets; batch++) {
      crowd.push(...await Promise.all(Array.from({ length: 500 }, (_, index) => {
        const k = batch * 500 + index;
        return bench.subscribe(bridge, k < sockets - onHot ? fixture.coldReferrer(k) : fixture.hot);
      })));
    }
    bench.record(`${sockets.toLocaleString('en')} sockets: time to subscribe`, [secs((performance.now() - connectStart) / 1000)]);
    bench.record(`bridge RSS: before, with ${sockets.toLocaleString('en')} sockets`, [mebibytes(rssBefore), mebibytes(residentMiB(bridge.pid))]);

    const hotCrowd = crowd.filter((subscriber) => subscriber.userId === fixture.hot);
    const started = performance.now();
    await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${fixture.buyer(0)}::int, 1 FROM generate_series(1, ${eventsEach})`;
    await holdsWithin('every hot socket to get every event', 60_000,
      () => !bridge.running() || hotCrowd.every((subscriber) => subscriber.tally.received >= eventsEach));
    const exact = hotCrowd.filter((subscriber) => subscriber.receivedExactly(eventsEach)).length;
    const seconds = exact < hotCrowd.length ? Number.NaN : (Math.max(...hotCrowd.map((subscriber) => subscriber.tally.lastEventAt)) - started) / 1000;
    const strays = crowd.filter((subscriber) => subscriber.userId !== fixture.hot && subscriber.tally.received > 0).length;
    bench.check(exact === hotCrowd.length && strays === 0,
      `each of the ${hotCrowd.length} hot sockets got each of ${eventsEach} events once, in order (${exact} did), and no other socket got one (${strays} did)`);
    bench.record(`hot referrer, ${eventsEach} events to each of ${onHot.toLocaleString('en')} sockets: deliveries/s, s`,
      [rate((eventsEach * hotCrowd.length) / seconds), secs(seconds)]);
  },
};
