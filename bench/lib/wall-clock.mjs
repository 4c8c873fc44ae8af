// The harnesses' wall clock (bench and soak, orchestrator and children alike), with
// sub-millisecond resolution and comparable across processes and with Postgres's timestamps.
//
// Not performance.timeOrigin + performance.now(): timeOrigin is fixed as the process starts, and
// on a loaded machine it came out tens of ms behind the real clock (a soak worker's runs appeared
// to start up to 60 ms before the database claimed their jobs, which the soak's checks read as
// dependents starting before their dependencies completed). The monotonic clock is anchored to
// Date.now() here instead: the best of the readings over 3 ms (a reading taken across a
// preemption comes out low, and Date.now() is whole milliseconds: the highest is the closest).
import { performance } from 'node:perf_hooks';

function anchor() {
  let best = -Infinity;
  const until = performance.now() + 3;
  while (performance.now() < until) best = Math.max(best, Date.now() - performance.now());
  return best;
}

const ANCHOR = anchor();

/** Wall-clock milliseconds, sub-millisecond. */
export const wallNow = () => ANCHOR + performance.now();
