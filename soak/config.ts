/** The soak's flags and environment, its constants, and the seeded random streams. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from './rng.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RESULTS_DIR = path.join(ROOT, 'soak', 'results');
export const RUNS_DIR = path.join(RESULTS_DIR, 'runs');
export const KEEP_RUNS = 10;
export const QUEUE = 'soak';
/** A queue that limits its keys (flow control): its jobs carry one of a few keys, at most KEY_LIMIT of a key run at once. */
export const KEYED_QUEUE = 'soak-keyed';
export const KEY_LIMIT = 2;
export const QUEUES = [QUEUE, KEYED_QUEUE];
export const LEASE_SECONDS = 3;
export const SHUTDOWN_TIMEOUT = 2;
export const WORKER_EXIT_TIMEOUT_MS = 30_000;
export const DRAIN_TIMEOUT_MS = (Number(process.env.SOAK_DRAIN_SECONDS) || 180) * 1_000;
export const DB_RETRY_MS = 90_000;
export const CALL_TIMEOUT_MS = 30_000;

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string' },
    seed: { type: 'string' },
    workers: { type: 'string' },
    keep: { type: 'boolean', default: false },
    outage: { type: 'boolean', default: false },
    schedules: { type: 'boolean', default: false },
    'with-schedules': { type: 'boolean', default: false },
  },
  strict: true,
});

function positiveNumber(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`soak: ${what} must be a positive number (got ${value})\n`);
    process.exit(2);
  }
  return n;
}

export const SECONDS = positiveNumber(flags.seconds, '--seconds') ?? positiveNumber(process.env.SOAK_SECONDS, 'SOAK_SECONDS') ?? 600;
export const SEED = (() => {
  const given = flags.seed ?? process.env.SOAK_SEED;
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      process.stderr.write(`soak: the seed must be an integer between 0 and 4294967295 (got ${given})\n`);
      process.exit(2);
    }
    return n;
  }
  return Math.floor(Math.random() * 0x1_0000_0000);
})();
export const EXTERNAL_URL = process.env.TAIAT_SOAK_DATABASE_URL || undefined;
// SOAK_KEEP=1 (or --keep): keep the embedded cluster's folder; SOAK_KEEP=failed: only when the run failed.
export const KEEP = flags.keep || process.env.SOAK_KEEP === '1';
export const KEEP_IF_FAILED = process.env.SOAK_KEEP === 'failed';
// Opt-in extra fault: Postgres down for longer than the lease (stop, wait, start).
export const OUTAGE = flags.outage || process.env.SOAK_OUTAGE === '1';
// Short runs get denser faults so that every kind happens.
export const FAULT_GAP_MS: [number, number] = SECONDS <= 120 ? [3_000, 7_000] : [5_000, 15_000];
// SOAK_PG_LOG=1: log every statement with its backend pid and transaction ids (forensics).
export const PG_LOG = process.env.SOAK_PG_LOG === '1';

// The scenarios: the random job mix (default), the schedules (--schedules: alone; --with-schedules:
// beside the mix, on the same workers and under the same faults).
export const SCHEDULES = flags.schedules || flags['with-schedules'];
export const MIX = !flags.schedules || flags['with-schedules'];
export const SCENARIO_FLAGS = flags['with-schedules'] ? ' --with-schedules' : flags.schedules ? ' --schedules' : '';

// One stream for the workload, one for faults, one for the schedules. The worker count and
// concurrencies are the workload stream's first draws, so a seed replays them too; the schedules
// scenario alone runs 3 workers.
export const workRng = new Rng(SEED);
export const faultRng = new Rng(SEED ^ 0x5bd1e995);
export const scheduleRng = new Rng(SEED ^ 0x27d4eb2f);
const drawnWorkers = workRng.int(3, 4);
export const WORKERS = flags.workers ? Math.max(1, Number(flags.workers)) : MIX ? drawnWorkers : 3;
export const CONCURRENCY = Array.from({ length: WORKERS }, () => workRng.int(8, 16));
