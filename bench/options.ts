// `npm run bench [-- --full] [-- --only 2,3]`: what to run, read from the
// command line; anything else is refused with the usage.

export interface BenchOptions {
  full: boolean;
  /** Each load's duration: 10 s in the full mode, 3 s otherwise. */
  seconds: number;
  /** The scenarios to run, by id; all when undefined. */
  only: number[] | undefined;
}

const usage = 'usage: npm run bench [-- [--full] [--only 2,3]]';

export function readOptions(args: string[], knownIds: number[]): BenchOptions {
  let full = false;
  let only: number[] | undefined;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    if (arg === '--full') full = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const list = arg === '--only' ? args[++index] : arg.slice('--only='.length);
      only = (list ?? '').split(',').map((id) => Number(id.trim()));
      const unknown = only.filter((id) => !knownIds.includes(id));
      if (only.length === 0 || unknown.length > 0) throw new Error(`--only takes scenario ids among ${knownIds.join(',')}, not "${list ?? ''}"\n${usage}`);
    } else throw new Error(`unknown argument "${arg}"\n${usage}`);
  }
  return { full, seconds: full ? 10 : 3, only };
}
