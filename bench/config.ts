/** The benchmark's flags, sizes, timeouts and paths (see run.ts for the flags). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
export const CHILDREN = path.join(ROOT, 'bench', 'children');

export const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    'no-graphile': { type: 'boolean', default: false },
    pgss: { type: 'boolean', default: false },
    'w6-minutes': { type: 'string' },
  },
});

export const QUICK = flags.quick;
export const SIZES = QUICK
  ? { w1Jobs: 300, w2Jobs: 20, w2GapMs: 20, w3Chains: 20, w3Steps: 4, w4Groups: 10, w4Width: 10, w5Backlog: 10_000, ceilingTx1: 10, ceilingTx50: 2, w7Jobs: 2_000, w7Batch: 200, w8Keys: 10, w8KeyLimit: 4, w9Jobs: 400, w9Limit: 8, w9SleepMs: 20, w9Workers: 3 }
  : { w1Jobs: 20_000, w2Jobs: 300, w2GapMs: 20, w3Chains: 500, w3Steps: 4, w4Groups: 200, w4Width: 10, w5Backlog: 1_000_000, ceilingTx1: 2_000, ceilingTx50: 60, w7Jobs: 20_000, w7Batch: 1_000, w8Keys: 100, w8KeyLimit: 4, w9Jobs: 4_000, w9Limit: 8, w9SleepMs: 20, w9Workers: 3 };
export const RUNS = flags.runs ? Math.max(1, Number(flags.runs)) : QUICK ? 1 : 3;
// W6's soak: a steady rate for this long (quick: 20 s), worker RSS sampled every 5 s.
export const W6_SECONDS = QUICK ? 20 : Math.max(1, Number(flags['w6-minutes'] ?? 10)) * 60;
export const W6_RATE = 200; // jobs/s, created every 100 ms
export const ONLY = new Set((flags.only ?? 'w1,w2,w3,w4,w5,w6,w7,w8,w9,ceiling').split(',').map((s) => s.trim().toLowerCase()));
export const GRAPHILE = !flags['no-graphile'];
export const PGSS = flags.pgss;
export const CONCURRENCY = 16;
export const CEILING_CLIENTS = 16;
export const TIMEOUTS = QUICK
  ? { ready: 60_000, drain: 60_000, overall: 115_000, pgbench: 60_000, setup: 60_000, flowDrain: 20_000 }
  : { ready: 120_000, drain: 15 * 60_000, overall: 4 * 3600_000, pgbench: 10 * 60_000, setup: 30 * 60_000, flowDrain: 120_000 };
// flowDrain: W8's and W9's drains, which take seconds when limits cost what they should (quick: 1-2 s).

export const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
