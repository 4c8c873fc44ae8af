// Shared plumbing of the benchmark's worker processes: IPC with the orchestrator (bench/run.ts),
// execution counting, RSS sampling, and a hard lifetime so a lost child never lingers.
import { readFileSync } from 'node:fs';
import { wallNow } from '../lib/wall-clock.mjs';

/** Wall-clock milliseconds with sub-millisecond resolution (comparable across processes). */
export const now = wallNow;

export function send(message) {
  if (process.connected) process.send(message);
}

// The orchestrator died or closed the channel: leave at once.
process.on('disconnect', () => process.exit(3));
const lifetime = Number(process.env.BENCH_CHILD_LIFETIME_MS ?? 30 * 60_000);
setTimeout(() => {
  process.stderr.write(`bench child: lifetime of ${lifetime} ms exceeded, exiting\n`);
  process.exit(4);
}, lifetime).unref();

/** Executions per job id, and executor start times per `seq` (latency workload). */
export const executions = new Map();
export const starts = [];

// The memory soak (W6) counts executions without keeping ids, so the child's own bookkeeping does
// not grow with the jobs; exactly-once is checked in the database instead.
const countOnly = process.env.BENCH_COUNT_ONLY === '1';
let executed = 0;

export function recordExecution(jobId, seq) {
  executed += 1;
  if (countOnly) return;
  executions.set(jobId, (executions.get(jobId) ?? 0) + 1);
  if (typeof seq === 'number') starts.push([seq, now()]);
}

let peakRss = 0;
const sampleRss = () => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
};
setInterval(sampleRss, 20).unref();

function vmHwmBytes() {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The report the orchestrator asks for once a workload is over. */
export function report(extra = {}) {
  sampleRss();
  return {
    type: 'report',
    executions: [...executions],
    executed,
    starts,
    peakRssSampled: peakRss,
    vmHwm: vmHwmBytes(),
    ...extra,
  };
}

/**
 * With BENCH_START_ON_GO=1 (several workers on one queue), says `waiting` and resolves at the
 * orchestrator's `go`, so that all of them start together; otherwise at once.
 */
export function waitForGo() {
  if (process.env.BENCH_START_ON_GO !== '1') return Promise.resolve();
  return new Promise((resolve) => {
    const onMessage = (message) => {
      if (message?.type !== 'go') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    send({ type: 'waiting' });
  });
}

/**
 * Answers `ping` (clock offset), `report` and `stop`. `stop` runs `onStop`, then acknowledges
 * and exits.
 */
export function serve({ onStop, extraReport = () => ({}) }) {
  process.on('message', (message) => {
    switch (message?.type) {
      case 'ping':
        send({ type: 'pong', id: message.id, t: now() });
        break;
      case 'report':
        send(report(extraReport()));
        break;
      case 'memory': {
        const m = process.memoryUsage();
        send({ type: 'memory', rss: m.rss, heapUsed: m.heapUsed, executed });
        break;
      }
      case 'stop':
        Promise.resolve()
          .then(onStop)
          .catch((error) => process.stderr.write(`bench child: stop failed: ${error?.stack ?? error}\n`))
          .finally(() => {
            send({ type: 'stopped' });
            setTimeout(() => process.exit(0), 50);
          });
        break;
    }
  });
}
