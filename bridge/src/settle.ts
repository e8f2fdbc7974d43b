// Shutdown steps that talk to a database which may already be gone must not
// hang the shutdown: each gets a bounded time to finish.

/** Waits for `promise` to settle, at most `ms`; never rejects. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}
