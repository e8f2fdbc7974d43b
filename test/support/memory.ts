// A process's resident memory, from Linux's /proc: read once, or sampled
// through a run to catch its peak.

import { readFileSync } from 'node:fs';

/** The resident set (VmRSS) of process `pid`, in MiB. */
export function residentMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) / 1024;
}

export interface ResidentSampler {
  /** The highest resident set seen so far, in MiB. */
  peakMiB(): number;
  /** Stops sampling (also when the process has gone); returns the peak. */
  stop(): number;
}

/** Samples the resident set of process `pid` every `everyMs` until stopped. */
export function sampleResidentMemory(pid: number, everyMs = 50): ResidentSampler {
  let peak = residentMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, residentMiB(pid));
    } catch {
      clearInterval(timer);
    }
  }, everyMs);
  return {
    peakMiB: () => peak,
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
