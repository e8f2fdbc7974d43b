// A read that many callers may ask for at once, run once for all of them:
// while one run is in flight, every caller gets its answer. Used for reads
// that scan whole tables (the program's totals), so that ten operators'
// dashboards polling together cost the database one scan, not ten. Nothing
// is kept once the run settles: the next caller starts a fresh read.

export function sharedRead<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
