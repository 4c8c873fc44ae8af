/** Clocks and bounded waits of the bench and soak harnesses. */

import { wallNow } from './wall-clock.mjs';

/** Wall-clock milliseconds with sub-millisecond resolution (comparable across processes). */
export { wallNow };

export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

export class TimeoutError extends Error {}

/**
 * Rejects after `ms` unless `promise` settled. The timer never keeps the process alive unless
 * `keepAlive` is set: then a wait on a promise that no handle backs still ends in a timeout.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string, options: { keepAlive?: boolean } = {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${Math.round(ms / 1000)} s: ${what}`)), ms);
    if (!options.keepAlive) timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Estimates (remote clock - local clock) in ms from `samples` round trips to `remoteNow`: the one
 * with the smallest round trip, assuming the remote read its clock half-way.
 */
export async function clockOffset(samples: number, remoteNow: (sample: number) => Promise<number>): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: 0, rttMs: Infinity };
  for (let i = 0; i < samples; i++) {
    const t1 = wallNow();
    const remote = await remoteNow(i);
    const t2 = wallNow();
    if (t2 - t1 < best.rttMs) best = { offsetMs: remote - (t1 + t2) / 2, rttMs: t2 - t1 };
  }
  return best;
}
