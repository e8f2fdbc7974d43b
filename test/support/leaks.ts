// Every server, socket, pool and process the test helpers open is registered
// here. Whatever a test opened and left open when it finishes (after its
// afterEach hooks) fails that test, naming what leaked and where it was
// opened; it is then closed anyway, so the tests after it start clean. What is
// opened outside any test (in beforeAll) belongs to the file, and is checked
// the same way after the file's afterAll hooks. Outside a Vitest run (npm
// run bench uses these helpers too) nothing is tracked: there is no test to
// own it, and whoever opens something closes it.

import { afterAll, onTestFinished, TestRunner } from 'vitest';

interface Resource {
  what: string;
  openedAt: string;
  isOpen(): boolean;
  close(): Promise<unknown>;
}

const ownedByFile = new Set<Resource>();
const ownedByTest = new WeakMap<object, Set<Resource>>();

const underVitest = process.env.VITEST !== undefined;

// Registered when a test file first imports a helper, so it runs after every
// afterAll hook of that file (they run in reverse order of registration).
if (underVitest) afterAll(() => closeLeaked(ownedByFile, 'this file (opened outside any test)'));

/** Registers something just opened: open while `isOpen()` says so, closed by `close()` if it leaks. */
export function track(what: string, isOpen: () => boolean, close: () => Promise<unknown>): void {
  if (!underVitest) return;
  const resource = { what, openedAt: openedAt(new Error().stack ?? ''), isOpen, close };
  const test = TestRunner.getCurrentTest();
  if (!test) {
    ownedByFile.add(resource);
    return;
  }
  let owned = ownedByTest.get(test);
  if (!owned) {
    const resources = new Set<Resource>();
    ownedByTest.set(test, resources);
    onTestFinished(() => closeLeaked(resources, `the test "${test.name}"`));
    owned = resources;
  }
  owned.add(resource);
}

async function closeLeaked(resources: Set<Resource>, owner: string): Promise<void> {
  const leaked = [...resources].filter((resource) => resource.isOpen());
  resources.clear();
  const closing = await Promise.allSettled(leaked.map((resource) => resource.close()));
  if (leaked.length === 0) return;
  const lines = leaked.map((resource, index) => {
    const outcome = closing[index];
    const failure = outcome?.status === 'rejected' ? ` (closing it failed too: ${String(outcome.reason)})` : '';
    return `  ${resource.what}, opened at ${resource.openedAt}${failure}`;
  });
  throw new Error(`${owner} left open (now closed):\n${lines.join('\n')}`);
}

/** The first stack frame in a test file, else the first outside this module. */
function openedAt(stack: string): string {
  const frames = stack.split('\n').slice(1).map((line) => line.trim().replace(/^at /, ''));
  const inTest = frames.find((frame) => /\.test\.ts:\d+/.test(frame));
  return inTest ?? frames.find((frame) => !frame.includes('leaks.ts')) ?? 'an unknown place';
}
