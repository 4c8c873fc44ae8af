/**
 * taiat benchmark: `npm run bench` (full: 3 runs per workload, medians, bench/results/latest.json)
 * and `npm run bench:quick` (tiny sizes, 1 run, exactly-once checks only, no timings).
 *
 * Flags: --quick, --runs N, --only w1,w2,w3,w4,w5,ceiling (default: all), --no-graphile,
 * --pgss (load pg_stat_statements and record the top statements of each drain's first run).
 * Env: TAIAT_BENCH_DATABASE_URL (use that server instead of a throwaway embedded one),
 * PGBENCH (path of pgbench).
 *
 * See bench/README.md for what each workload measures and how.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';
import { Logger as GraphileLogger, makeWorkerUtils } from 'graphile-worker';
import { JobManager, runMigrations, type NewJob } from '../dist/index.js';
import { VERSION } from '../dist/version.js';
import { BenchChild, killAllChildren, withTimeout, type Message } from './lib/child.js';
import { CEILING_SCRIPT, pgbenchPath, runCeiling, type CeilingResult } from './lib/ceiling.js';
import { fmt, ratio, table } from './lib/report.js';
import { cpuSecondsBetween, freshDatabase, serverInfo, startServer, type BenchDatabase, type BenchServer } from './lib/server.js';
import { median, percentile, round } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const CHILDREN = path.join(ROOT, 'bench', 'children');

// ---------------------------------------------------------------------------------------------
// Options and sizes

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    'no-graphile': { type: 'boolean', default: false },
    pgss: { type: 'boolean', default: false },
    'w6-minutes': { type: 'string' },
  },
});

const QUICK = flags.quick;
const SIZES = QUICK
  ? { w1Jobs: 300, w2Jobs: 20, w2GapMs: 20, w3Chains: 20, w3Steps: 4, w4Groups: 10, w4Width: 10, w5Backlog: 10_000, ceilingTx1: 10, ceilingTx50: 2 }
  : { w1Jobs: 20_000, w2Jobs: 300, w2GapMs: 20, w3Chains: 500, w3Steps: 4, w4Groups: 200, w4Width: 10, w5Backlog: 1_000_000, ceilingTx1: 2_000, ceilingTx50: 60 };
const RUNS = flags.runs ? Math.max(1, Number(flags.runs)) : QUICK ? 1 : 3;
// W6's soak: a steady rate for this long (quick: 20 s), worker RSS sampled every 5 s.
const W6_SECONDS = QUICK ? 20 : Math.max(1, Number(flags['w6-minutes'] ?? 10)) * 60;
const W6_RATE = 200; // jobs/s, created every 100 ms
const ONLY = new Set((flags.only ?? 'w1,w2,w3,w4,w5,w6,ceiling').split(',').map((s) => s.trim().toLowerCase()));
const GRAPHILE = !flags['no-graphile'];
const CONCURRENCY = 16;
const CEILING_CLIENTS = 16;
const TIMEOUTS = QUICK
  ? { ready: 60_000, drain: 60_000, overall: 115_000, pgbench: 60_000, setup: 60_000 }
  : { ready: 120_000, drain: 15 * 60_000, overall: 4 * 3600_000, pgbench: 10 * 60_000, setup: 30 * 60_000 };

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const wallNow = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Correctness bookkeeping

interface Check {
  workload: string;
  system: string;
  run: number;
  ok: boolean;
  detail: string;
}
const checks: Check[] = [];
function check(workload: string, system: string, run: number, problems: string[], okDetail: string): boolean {
  const ok = problems.length === 0;
  checks.push({ workload, system, run, ok, detail: ok ? okDetail : problems.join('; ') });
  if (!ok) log(`CORRECTNESS FAILURE ${workload} ${system} run ${run}: ${problems.join('; ')}`);
  return ok;
}

/** Problems with the in-memory execution counts: every expected id exactly once, nothing else. */
function executionProblems(report: Message, expectedIds: string[]): string[] {
  const counts = new Map<string, number>(report.executions as [string, number][]);
  const problems: string[] = [];
  const expected = new Set(expectedIds);
  const notOnce = expectedIds.filter((id) => counts.get(id) !== 1);
  const missing = notOnce.filter((id) => !counts.has(id));
  const repeated = notOnce.filter((id) => (counts.get(id) ?? 0) > 1);
  const unexpected = [...counts.keys()].filter((id) => !expected.has(id));
  if (missing.length) problems.push(`${missing.length} job(s) never ran (e.g. ${missing.slice(0, 3).join(', ')})`);
  if (repeated.length) problems.push(`${repeated.length} job(s) ran more than once (e.g. ${repeated.slice(0, 3).map((id) => `${id} x${counts.get(id)}`).join(', ')})`);
  if (unexpected.length) problems.push(`${unexpected.length} unexpected job(s) ran (e.g. ${unexpected.slice(0, 3).join(', ')})`);
  return problems;
}

function childProblems(child: BenchChild): string[] {
  const failed = child.received('job-failed');
  return failed.length ? [`${failed.length} job attempt(s) failed (e.g. ${failed[0]!.id}: ${failed[0]!.error})`] : [];
}

/** taiat: each id in history exactly once, completed, and gone from taiat_jobs. */
async function taiatHistoryProblems(url: string, ids: string[]): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ rows: number; completed: number; distinct_ids: number; live: number }[]>`
      SELECT (SELECT count(*)::int FROM taiat_job_history WHERE job_id = ANY(${ids}::text[])) AS rows,
             (SELECT count(*)::int FROM taiat_job_history WHERE job_id = ANY(${ids}::text[]) AND status = 'completed') AS completed,
             (SELECT count(DISTINCT job_id)::int FROM taiat_job_history WHERE job_id = ANY(${ids}::text[])) AS distinct_ids,
             (SELECT count(*)::int FROM taiat_jobs WHERE id = ANY(${ids}::text[])) AS live`;
    const problems: string[] = [];
    if (row!.rows !== ids.length || row!.distinct_ids !== ids.length) problems.push(`history has ${row!.rows} row(s) for ${row!.distinct_ids}/${ids.length} job ids`);
    if (row!.completed !== ids.length) problems.push(`${ids.length - row!.completed} job(s) not completed in history`);
    if (row!.live !== 0) problems.push(`${row!.live} job(s) still in taiat_jobs`);
    return problems;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------------------------------------
// Server lifecycle, signals, watchdog

let server: BenchServer | undefined;
let shuttingDown = false;
async function shutdown(code: number, reason?: string): Promise<never> {
  if (reason) log(reason);
  if (!shuttingDown) {
    shuttingDown = true;
    killAllChildren();
    await withTimeout(server?.stop() ?? Promise.resolve(), 60_000, 'stopping Postgres').catch((e: unknown) => log(String(e)));
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130, 'interrupted: cleaning up'));
process.on('SIGTERM', () => void shutdown(143, 'terminated: cleaning up'));
process.on('uncaughtException', (error) => void shutdown(1, `uncaught: ${error.stack ?? error}`));
process.on('unhandledRejection', (error) => void shutdown(1, `unhandled rejection: ${(error as Error)?.stack ?? error}`));
setTimeout(() => void shutdown(1, `overall timeout of ${TIMEOUTS.overall / 1000} s exceeded`), TIMEOUTS.overall).unref();

const silentGraphileLogger = new GraphileLogger(() => (level, message) => {
  if (level === 'error') log(`graphile-worker: ${message}`);
});

/**
 * graphile-worker utilities on a pool of ours: WorkerUtils.release() ends its own pool without
 * waiting and removes its error handlers first, so a DROP DATABASE right after could crash us.
 */
async function graphileUtils(url: string): Promise<{ utils: Awaited<ReturnType<typeof makeWorkerUtils>>; close(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const utils = await makeWorkerUtils({ pgPool: pool, logger: silentGraphileLogger });
  return {
    utils,
    async close() {
      await utils.release();
      await pool.end();
    },
  };
}

const CHILD_SCRIPTS = { taiat: 'taiat-worker.mjs', graphile: 'graphile-worker.mjs', floor: 'latency-floor.mjs' } as const;

function spawnWorker(system: keyof typeof CHILD_SCRIPTS, db: BenchDatabase, expect: number, env: Record<string, string> = {}): BenchChild {
  const script = path.join(CHILDREN, CHILD_SCRIPTS[system]);
  return new BenchChild(`${system} worker (${db.name})`, script, {
    BENCH_DATABASE_URL: db.url,
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_EXPECT: String(expect),
    BENCH_DRAIN_TIMEOUT_MS: String(TIMEOUTS.drain),
    BENCH_CHILD_LIFETIME_MS: String(TIMEOUTS.drain + 5 * 60_000),
    TAIAT_DATABASE_URL: '',
    DATABASE_URL: '',
    ...env,
  }, ROOT);
}

/** Runs `fn` with a fresh database, always dropping it and killing the child afterwards. */
async function withDatabase<T>(name: string, system: 'taiat' | 'graphile' | 'ceiling', fn: (db: BenchDatabase) => Promise<T>): Promise<T> {
  const db = await freshDatabase(server!, name);
  try {
    if (system === 'taiat') await withTimeout(runMigrations(db.url), 120_000, 'taiat migrations');
    if (system === 'graphile') {
      const { utils, close } = await graphileUtils(db.url);
      try {
        await withTimeout(utils.migrate(), 120_000, 'graphile-worker migrations');
      } finally {
        await close();
      }
    }
    return await fn(db);
  } finally {
    await db.drop().catch((e: unknown) => log(`could not drop ${name}: ${e}`));
  }
}

// ---------------------------------------------------------------------------------------------
// pg_stat_statements (--pgss) and EXPLAIN of the claim

async function pgssReset(): Promise<void> {
  if (flags.pgss) await server!.admin`SELECT pg_stat_statements_reset()`;
}

async function pgssTop(dbName: string): Promise<unknown[] | undefined> {
  if (!flags.pgss) return undefined;
  const rows = await server!.admin<{ query: string; calls: string; total_ms: number; mean_ms: number; rows: string; share: number }[]>`
    SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 240) AS query, s.calls, round(s.total_exec_time::numeric, 1)::float8 AS total_ms,
           round(s.mean_exec_time::numeric, 3)::float8 AS mean_ms, s.rows,
           round((100 * s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0))::numeric, 1)::float8 AS share
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = ${dbName}
     ORDER BY s.total_exec_time DESC LIMIT 12`;
  return rows.map((r) => ({ ...r, calls: Number(r.calls), rows: Number(r.rows) }));
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of taiat's claim statement (src/worker/claim.ts) as the worker runs
 * it: prepared, with the generic plan postgres.js ends up using, claiming 16 jobs; rolled back.
 */
async function explainClaim(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    let plan = '';
    await sql
      .begin(async (tx) => {
        await tx.unsafe(`SET LOCAL plan_cache_mode = force_generic_plan`);
        await tx.unsafe(`
          PREPARE bench_claim(text, int, text, float8) AS
          WITH ready AS (
            SELECT id FROM taiat_jobs
             WHERE status = 'pending' AND pending_dependencies = 0 AND queue = $1 AND run_at <= now()
             ORDER BY priority DESC, run_at, id
             LIMIT $2
             FOR UPDATE SKIP LOCKED
          )
          UPDATE taiat_jobs j
             SET status = 'running', lease_owner = $3,
                 lease_expires_at = now() + make_interval(secs => $4),
                 attempts = j.attempts + 1, started_at = now(), updated_at = now(), cancel_requested_at = NULL
            FROM ready WHERE j.id = ready.id
          RETURNING j.id`);
        const rows = await tx.unsafe(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_claim('default', ${CONCURRENCY}, 'bench-explain', 30)`);
        plan = rows.map((r) => (r as Record<string, string>)['QUERY PLAN']).join('\n');
        throw new RollbackSignal();
      })
      .catch((error: unknown) => {
        if (!(error instanceof RollbackSignal)) throw error;
      });
    return plan;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
class RollbackSignal extends Error {}

// ---------------------------------------------------------------------------------------------
// Workloads: taiat

type Backlog = 'none' | 'blocked' | 'history';
const noopJobs = (n: number): NewJob[] => Array.from({ length: n }, () => ({ jobType: 'agent', name: 'noop', payload: { agent_name: 'noop' } }));

/** Set-based backlog setup for W5 (1,000,000 rows in full mode). Returns seconds spent. */
async function setupBacklog(url: string, backlog: Backlog, n: number): Promise<number> {
  if (backlog === 'none') return 0;
  const t0 = performance.now();
  const jobs = await JobManager.connect({ databaseUrl: url, maxConnections: 1 });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    if (backlog === 'blocked') {
      // One job that never runs (scheduled in the far future), and n jobs of the same queue
      // blocked on it: exactly what a real backlog of waiting dependents looks like.
      await jobs.createJob({ id: 'bench-never', jobType: 'agent', name: 'never', payload: { agent_name: 'noop' }, runAt: new Date('2999-01-01T00:00:00Z') });
      await sql`
        INSERT INTO taiat_jobs (id, job_type, name, payload, dependencies, pending_dependencies, queue)
        SELECT 'bench-blocked-' || g, 'agent', 'blocked', '{"agent_name":"noop"}'::jsonb, '["bench-never"]'::jsonb, 1, 'default'
          FROM generate_series(1, ${n}::int) AS g`;
      await sql`UPDATE taiat_jobs SET has_dependents = true WHERE id = 'bench-never'`;
      await sql.unsafe('VACUUM ANALYZE taiat_jobs');
    } else {
      await sql`
        INSERT INTO taiat_job_history (id, job_id, job_type, name, payload, dependencies, status, started_at, completed_at,
                                       duration_seconds, created_at, updated_at, priority, queue, run_at, attempts, worker_id)
        SELECT 'bench-old-' || g, 'bench-old-' || g, 'agent', 'old', '{"agent_name":"noop"}'::jsonb, '[]'::jsonb, 'completed',
               t - interval '5 ms', t, 0.005, t - interval '10 ms', t, 2, 'default', t - interval '10 ms', 1, 'bench-old-worker'
          FROM generate_series(1, ${n}::int) AS g, LATERAL (SELECT now() - interval '7 days' + g * interval '500 ms') AS x(t)`;
      await sql.unsafe('VACUUM ANALYZE taiat_job_history');
    }
    await sql.unsafe('CHECKPOINT').catch(() => {});
  } finally {
    await sql.end({ timeout: 5 });
    await jobs.close();
  }
  return (performance.now() - t0) / 1000;
}

async function backlogProblems(url: string, backlog: Backlog, n: number): Promise<string[]> {
  if (backlog === 'none') return [];
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    if (backlog === 'blocked') {
      const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE pending_dependencies = 1 AND status = 'pending'`;
      return r!.n === n ? [] : [`backlog changed: ${r!.n} blocked jobs instead of ${n}`];
    }
    const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_job_history WHERE job_id LIKE 'bench-old-%'`;
    return r!.n === n ? [] : [`history backlog changed: ${r!.n} rows instead of ${n}`];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface DrainResult {
  createJobsPerSec: number;
  drainJobsPerSec: number;
  drainSeconds: number;
  workerStartMs: number;
  peakRssMb: number | null;
  rssAtReadyMb: number;
  /** CPU seconds of the worker process and of the Postgres server during the drain. */
  workerCpuSeconds: number;
  serverCpuSeconds: number | null;
  setupSeconds?: number;
  claimPlan?: string;
  pgss?: unknown[];
}

const mb = (bytes: number | null | undefined) => (bytes ? round(bytes / 1024 / 1024, 1) : null);

/** Waits for a drain child to be ready and to drain, then takes its figures and stops it. */
async function drainFigures(child: BenchChild, cpuBefore: Awaited<ReturnType<BenchServer['cpuTicks']>>, db: BenchDatabase, run: number) {
  const ready = await child.next('ready', TIMEOUTS.ready);
  const drained = await child.next('drained', TIMEOUTS.drain);
  const serverCpuSeconds = cpuSecondsBetween(cpuBefore, await server!.cpuTicks());
  const pgss = run === 1 ? await pgssTop(db.name) : undefined;
  const report = await child.request({ type: 'report' }, 'report', 30_000);
  await child.stop();
  return { ready, drained, serverCpuSeconds, pgss, report };
}

async function taiatDrain(run: number, backlog: Backlog): Promise<DrainResult | null> {
  const workload = backlog === 'none' ? 'W1 throughput' : `W5 backlog (${backlog})`;
  const n = SIZES.w1Jobs;
  return withDatabase(`bench_${backlog === 'none' ? 'w1' : `w5_${backlog}`}_taiat_r${run}`, 'taiat', async (db) => {
    const setupSeconds = await withTimeout(setupBacklog(db.url, backlog, SIZES.w5Backlog), TIMEOUTS.setup, 'backlog setup');
    const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    let child: BenchChild | undefined;
    try {
      const input = noopJobs(n);
      const t0 = performance.now();
      const created = await jobs.createJobs(input);
      const createMs = performance.now() - t0;
      const ids = created.map((j) => j.id);
      const claimPlan = run === 1 && !QUICK ? await explainClaim(db.url) : undefined;
      await pgssReset();
      const cpuBefore = await server!.cpuTicks();
      child = spawnWorker('taiat', db, n);
      const { ready, drained, serverCpuSeconds, pgss, report } = await drainFigures(child, cpuBefore, db, run);
      const problems = [...executionProblems(report, ids), ...childProblems(child), ...(await taiatHistoryProblems(db.url, ids)), ...(await backlogProblems(db.url, backlog, SIZES.w5Backlog))];
      check(workload, 'taiat', run, problems, `${n} jobs, each executed once and completed once in taiat_job_history`);
      return {
        createJobsPerSec: n / (createMs / 1000),
        drainJobsPerSec: n / (drained.ms / 1000),
        drainSeconds: drained.ms / 1000,
        workerStartMs: ready.startMs,
        workerCpuSeconds: (drained.cpu.user + drained.cpu.system) / 1e6,
        serverCpuSeconds,
        peakRssMb: mb(report.vmHwm ?? report.peakRssSampled),
        rssAtReadyMb: mb(ready.rss)!,
        ...(backlog !== 'none' ? { setupSeconds } : {}),
        ...(claimPlan ? { claimPlan } : {}),
        ...(pgss ? { pgss } : {}),
      };
    } finally {
      child?.kill();
      await jobs.close();
    }
  });
}

async function graphileDrain(run: number): Promise<DrainResult | null> {
  const n = SIZES.w1Jobs;
  return withDatabase(`bench_w1_graphile_r${run}`, 'graphile', async (db) => {
    const { utils, close } = await graphileUtils(db.url);
    let child: BenchChild | undefined;
    try {
      const specs = Array.from({ length: n }, () => ({ identifier: 'noop', payload: {} }));
      const t0 = performance.now();
      const created = await utils.addJobs(specs);
      const createMs = performance.now() - t0;
      const ids = created.map((j) => String(j.id));
      await pgssReset();
      const cpuBefore = await server!.cpuTicks();
      child = spawnWorker('graphile', db, n);
      const { ready, drained, serverCpuSeconds, pgss, report } = await drainFigures(child, cpuBefore, db, run);
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      const [left] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM graphile_worker.jobs`;
      await sql.end({ timeout: 5 });
      const problems = [...executionProblems(report, ids), ...childProblems(child)];
      if (left!.n !== 0) problems.push(`${left!.n} job row(s) left (graphile-worker deletes completed jobs)`);
      check('W1 throughput', 'graphile-worker', run, problems, `${n} jobs, each executed once; no job row left`);
      return {
        createJobsPerSec: n / (createMs / 1000),
        drainJobsPerSec: n / (drained.ms / 1000),
        drainSeconds: drained.ms / 1000,
        workerStartMs: ready.startMs,
        workerCpuSeconds: (drained.cpu.user + drained.cpu.system) / 1e6,
        serverCpuSeconds,
        peakRssMb: mb(report.vmHwm ?? report.peakRssSampled),
        rssAtReadyMb: mb(ready.rss)!,
        ...(pgss ? { pgss } : {}),
      };
    } finally {
      child?.kill();
      await close();
    }
  });
}

interface LatencyResult {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  createCallP50Ms: number;
  clockRttMs: number;
}

/** W2's floor: bare SQL doing the least taiat's create-to-start path must (latency-floor.mjs). */
const FLOOR_TABLE = 'CREATE TABLE bench_floor (id bigserial PRIMARY KEY, seq int NOT NULL, taken boolean NOT NULL DEFAULT false)';

/**
 * W2: an idle worker process; jobs created one at a time at a fixed pace from this process.
 * Latency = executor start (child clock, corrected by the measured offset) - createJob call.
 * `floor` measures the same path with no job runner (see latency-floor.mjs).
 */
async function latency(system: 'taiat' | 'graphile' | 'floor', run: number): Promise<LatencyResult | null> {
  const n = SIZES.w2Jobs;
  const label = system === 'taiat' ? 'taiat' : system === 'graphile' ? 'graphile-worker' : 'floor (bare SQL)';
  return withDatabase(`bench_w2_${system}_r${run}`, system === 'floor' ? 'ceiling' : system, async (db) => {
    const jobs = system === 'taiat' ? await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 }) : undefined;
    const graphile = system === 'graphile' ? await graphileUtils(db.url) : undefined;
    const utils = graphile?.utils;
    const bare = system === 'floor' ? postgres(db.url, { max: 2, onnotice: () => {} }) : undefined;
    await bare?.unsafe(FLOOR_TABLE);
    const create = async (seq: number): Promise<string> => {
      if (jobs) return (await jobs.createJob({ jobType: 'agent', name: 'latency', payload: { agent_name: 'noop', parameters: { seq } } })).id;
      if (utils) return String((await utils.addJob('noop', { seq })).id);
      const [row] = await bare!<{ id: string }[]>`
        WITH i AS (INSERT INTO bench_floor (seq) VALUES (${seq}) RETURNING id)
        SELECT id, pg_notify('bench_floor', ''), set_config('synchronous_commit', 'off', true) FROM i`;
      await bare!`SELECT pg_logical_emit_message(true, 'bench', 'flush')`;
      return String(row!.id);
    };
    let child: BenchChild | undefined;
    try {
      child = spawnWorker(system, db, n);
      await child.next('ready', TIMEOUTS.ready);
      const clock = await child.clockOffset();
      await sleep(500); // let the worker settle into idle
      const createdAt = new Array<number>(n);
      const callMs: number[] = [];
      const ids: string[] = [];
      const t0 = performance.now();
      for (let seq = 0; seq < n; seq++) {
        const wait = t0 + seq * SIZES.w2GapMs - performance.now();
        if (wait > 0) await sleep(wait);
        const start = wallNow();
        ids.push(await create(seq));
        callMs.push(wallNow() - start);
        createdAt[seq] = start;
      }
      await child.next('drained', TIMEOUTS.drain);
      const report = await child.request({ type: 'report' }, 'report', 30_000);
      await child.stop();
      const latencies = (report.starts as [number, number][]).map(([seq, t]) => t - clock.offsetMs - createdAt[seq]!);
      const problems = [...executionProblems(report, ids), ...childProblems(child)];
      if (system === 'taiat') problems.push(...(await taiatHistoryProblems(db.url, ids)));
      if (latencies.length !== n) problems.push(`${latencies.length} executor starts recorded for ${n} jobs`);
      check('W2 latency', label, run, problems, `${n} jobs, each executed once`);
      return {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: Math.max(...latencies),
        createCallP50Ms: percentile(callMs, 50),
        clockRttMs: clock.rttMs,
      };
    } finally {
      child?.kill();
      await jobs?.close();
      await graphile?.close();
      await bare?.end();
    }
  });
}

interface SoakResult {
  seconds: number;
  jobs: number;
  jobsPerSec: number;
  /** [seconds since the load started, RSS MB, heap used MB] every 5 s. */
  samples: [number, number, number][];
  /** Mean RSS over the second minute (after warm-up) and over the last minute. */
  rssEarlyMb: number;
  rssLateMb: number;
  rssGrowthMb: number;
  rssPeakMb: number;
  /** Least-squares slope of RSS after the first minute. */
  rssSlopeMbPerMin: number;
}

/**
 * W6's soak: one worker process under a steady rate of jobs (independent ones and two-step
 * chains) for W6_SECONDS; its RSS sampled every 5 s. Exactly-once is checked in the database
 * (the child only counts executions, so that its own bookkeeping does not grow).
 */
async function memorySoak(run: number): Promise<SoakResult | null> {
  const tickMs = 100;
  const perTick = Math.round((W6_RATE * tickMs) / 1000);
  const ticks = Math.round((W6_SECONDS * 1000) / tickMs);
  const total = ticks * perTick;
  return withDatabase(`bench_w6_taiat_r${run}`, 'taiat', async (db) => {
    const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    let child: BenchChild | undefined;
    try {
      child = spawnWorker('taiat', db, total, { BENCH_COUNT_ONLY: '1', BENCH_CHILD_LIFETIME_MS: String(W6_SECONDS * 1000 + 10 * 60_000) });
      await child.next('ready', TIMEOUTS.ready);
      const samples: [number, number, number][] = [];
      const t0 = performance.now();
      let nextSample = 0;
      for (let tick = 0; tick < ticks; tick++) {
        const wait = t0 + tick * tickMs - performance.now();
        if (wait > 0) await sleep(wait);
        const batch: NewJob[] = [];
        for (let i = 0; i < perTick - 2; i++) batch.push({ jobType: 'agent', name: 'steady', payload: { agent_name: 'noop' } });
        const head = `w6-${run}-${tick}`;
        batch.push({ id: head, jobType: 'agent', name: 'head', payload: { agent_name: 'noop' } });
        batch.push({ jobType: 'agent', name: 'tail', payload: { agent_name: 'noop' }, dependencies: [head] });
        await jobs.createJobs(batch);
        const elapsed = (performance.now() - t0) / 1000;
        if (elapsed >= nextSample) {
          const m = await child.request({ type: 'memory' }, 'memory', 10_000);
          samples.push([round(elapsed, 1), mb(m.rss as number)!, mb(m.heapUsed as number)!]);
          nextSample += 5;
        }
      }
      const loadSeconds = (performance.now() - t0) / 1000;
      await child.next('drained', TIMEOUTS.drain);
      const last = await child.request({ type: 'memory' }, 'memory', 10_000);
      samples.push([round((performance.now() - t0) / 1000, 1), mb(last.rss as number)!, mb(last.heapUsed as number)!]);
      const report = await child.request({ type: 'report' }, 'report', 30_000);
      await child.stop();
      const problems = [...childProblems(child)];
      if (report.executed !== total) problems.push(`${report.executed} executions for ${total} jobs`);
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ completed: number; other: number; max_attempts: number; live: number }[]>`
          SELECT (SELECT count(*)::int FROM taiat_job_history WHERE status = 'completed') AS completed,
                 (SELECT count(*)::int FROM taiat_job_history WHERE status <> 'completed') AS other,
                 (SELECT coalesce(max(attempts), 0)::int FROM taiat_job_history) AS max_attempts,
                 (SELECT count(*)::int FROM taiat_jobs) AS live`;
        if (row!.completed !== total || row!.other !== 0) problems.push(`history: ${row!.completed} completed and ${row!.other} other for ${total} jobs`);
        if (row!.max_attempts !== 1) problems.push(`a job took ${row!.max_attempts} attempts`);
        if (row!.live !== 0) problems.push(`${row!.live} job(s) left in taiat_jobs`);
      } finally {
        await sql.end({ timeout: 5 });
      }
      check('W6 memory soak', 'taiat', run, problems, `${total} jobs over ${Math.round(loadSeconds)} s, each executed once (counted) and completed once with 1 attempt`);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const span = Math.min(60, loadSeconds / 3);
      const early = samples.filter(([t]) => t >= span && t < 2 * span).map(([, r]) => r);
      const late = samples.filter(([t]) => t >= loadSeconds - span && t <= loadSeconds).map(([, r]) => r);
      const steady = samples.filter(([t]) => t >= span && t <= loadSeconds);
      const mt = mean(steady.map(([t]) => t));
      const mr = mean(steady.map(([, r]) => r));
      const slope = steady.reduce((a, [t, r]) => a + (t - mt) * (r - mr), 0) / Math.max(1e-9, steady.reduce((a, [t]) => a + (t - mt) ** 2, 0));
      return {
        seconds: round(loadSeconds, 1),
        jobs: total,
        jobsPerSec: round(total / loadSeconds, 0),
        samples,
        rssEarlyMb: round(mean(early), 1),
        rssLateMb: round(mean(late), 1),
        rssGrowthMb: round(mean(late) - mean(early), 1),
        rssPeakMb: round(Math.max(...samples.map(([, r]) => r)), 1),
        rssSlopeMbPerMin: round(slope * 60, 2),
      };
    } finally {
      child?.kill();
      await jobs.close();
    }
  });
}

interface GraphResult {
  jobs: number;
  createJobsPerSec: number;
  seconds: number;
  jobsPerSec: number;
}

/** W3 (chains) and W4 (fan-in): a dependency graph created up front, then one worker process. */
async function taiatGraph(kind: 'chains' | 'fan-in', run: number): Promise<GraphResult | null> {
  const graph: NewJob[] = [];
  const noop = { agent_name: 'noop' };
  if (kind === 'chains') {
    for (let c = 0; c < SIZES.w3Chains; c++) {
      for (let s = 0; s < SIZES.w3Steps; s++) {
        graph.push({ id: `chain-${c}-${s}`, jobType: 'agent', name: `step-${s}`, payload: noop, dependencies: s > 0 ? [`chain-${c}-${s - 1}`] : [] });
      }
    }
  } else {
    for (let g = 0; g < SIZES.w4Groups; g++) {
      const parts = Array.from({ length: SIZES.w4Width }, (_, k) => `group-${g}-part-${k}`);
      for (const id of parts) graph.push({ id, jobType: 'agent', name: 'part', payload: noop });
      graph.push({ id: `group-${g}-join`, jobType: 'agent', name: 'join', payload: noop, dependencies: parts });
    }
  }
  const workload = kind === 'chains' ? 'W3 chains' : 'W4 fan-in';
  const edges = graph.reduce((sum, j) => sum + (j.dependencies?.length ?? 0), 0);
  return withDatabase(`bench_${kind === 'chains' ? 'w3' : 'w4'}_taiat_r${run}`, 'taiat', async (db) => {
    const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    let child: BenchChild | undefined;
    try {
      const t0 = performance.now();
      await jobs.createJobs(graph);
      const createMs = performance.now() - t0;
      child = spawnWorker('taiat', db, graph.length);
      await child.next('ready', TIMEOUTS.ready);
      const drained = await child.next('drained', TIMEOUTS.drain);
      const report = await child.request({ type: 'report' }, 'report', 30_000);
      await child.stop();
      const ids = graph.map((j) => j.id!);
      const problems = [...executionProblems(report, ids), ...childProblems(child), ...(await taiatHistoryProblems(db.url, ids))];
      // Every dependency completed before its dependent started.
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      const [order] = await sql<{ edges: number; violations: number }[]>`
        SELECT count(*)::int AS edges,
               count(*) FILTER (WHERE p.status <> 'completed' OR h.started_at < p.completed_at)::int AS violations
          FROM taiat_job_history h
          CROSS JOIN LATERAL jsonb_array_elements_text(h.dependencies) AS d(dep)
          JOIN taiat_job_history p ON p.job_id = d.dep
         WHERE h.job_id = ANY(${ids}::text[])`;
      await sql.end({ timeout: 5 });
      if (order!.edges !== edges) problems.push(`${order!.edges} dependency edges in history, expected ${edges}`);
      if (order!.violations !== 0) problems.push(`${order!.violations} job(s) started before a dependency completed`);
      check(workload, 'taiat', run, problems, `${graph.length} jobs each executed once, all ${edges} dependencies respected`);
      return {
        jobs: graph.length,
        createJobsPerSec: graph.length / (createMs / 1000),
        seconds: drained.ms / 1000,
        jobsPerSec: graph.length / (drained.ms / 1000),
      };
    } finally {
      child?.kill();
      await jobs.close();
    }
  });
}

async function ceiling(jobsPerTx: 1 | 50, run: number): Promise<CeilingResult | null> {
  return withDatabase(`bench_ceiling_${jobsPerTx}_r${run}`, 'ceiling', async (db) => {
    const result = await runCeiling({
      url: db.url,
      jobsPerTx,
      clients: CEILING_CLIENTS,
      txPerClient: jobsPerTx === 1 ? SIZES.ceilingTx1 : SIZES.ceilingTx50,
      timeoutMs: TIMEOUTS.pgbench,
    });
    check(`ceiling ${jobsPerTx}/tx`, 'pgbench', run, result.ok ? [] : [result.detail], result.detail);
    return result;
  });
}

/** Runs one measurement; a thrown error is a correctness failure of that run, not a crash. */
async function attempt<T>(workload: string, system: string, run: number, fn: () => Promise<T | null>, runs = RUNS): Promise<T | null> {
  log(`${workload} / ${system} / run ${run} of ${runs}`);
  try {
    return await fn();
  } catch (error) {
    check(workload, system, run, [`error: ${(error as Error).message ?? error}`], '');
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Main

interface Summary<T> {
  runs: (T | null)[];
  median: Record<string, number>;
  min: Record<string, number>;
  max: Record<string, number>;
}

function summarize<T extends object>(runs: (T | null)[]): Summary<T> {
  const ok = runs.filter((r): r is T => r !== null);
  const out: Summary<T> = { runs, median: {}, min: {}, max: {} };
  if (ok.length > 0) {
    for (const [key, value] of Object.entries(ok[0]!)) {
      if (typeof value !== 'number') continue;
      const values = ok.map((r) => (r as Record<string, number>)[key]!).filter((v) => typeof v === 'number');
      out.median[key] = round(median(values), 3);
      out.min[key] = round(Math.min(...values), 3);
      out.max[key] = round(Math.max(...values), 3);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadStart = os.loadavg();
  log(`${QUICK ? 'quick (correctness only)' : 'full'} benchmark, ${RUNS} run(s) per workload; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);
  if (!QUICK && loadStart[0]! > 0.5) log(`note: the machine is not idle (load ${loadStart[0]!.toFixed(2)} on ${os.cpus().length} cores); timings will be noisier`);
  server = await startServer({ log, ...(flags.pgss ? { settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.max': '1000' } } : {}) });
  if (flags.pgss) await server.admin`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  const pg = await serverInfo(server);
  const serverKind = server.kind;
  log(`Postgres: ${pg.settings.server_version} (${server.kind}); fsync=${pg.settings.fsync}, synchronous_commit=${pg.settings.synchronous_commit}`);
  const pgbench = pgbenchPath();

  const w1Taiat: (DrainResult | null)[] = [];
  const w1Graphile: (DrainResult | null)[] = [];
  const ceil1: (CeilingResult | null)[] = [];
  const ceil50: (CeilingResult | null)[] = [];
  const w2Taiat: (LatencyResult | null)[] = [];
  const w2Graphile: (LatencyResult | null)[] = [];
  const w2Floor: (LatencyResult | null)[] = [];
  const w3: (GraphResult | null)[] = [];
  const w4: (GraphResult | null)[] = [];
  const w5Blocked: (DrainResult | null)[] = [];
  const w5History: (DrainResult | null)[] = [];
  const skipped: string[] = [];

  // Runs are interleaved (taiat, graphile-worker, the ceiling and the backlog variants per round)
  // so a drift in machine load affects all of them alike, and their ratios least.
  for (let run = 1; run <= RUNS; run++) {
    if (ONLY.has('w1')) {
      w1Taiat.push(await attempt('W1 throughput', 'taiat', run, () => taiatDrain(run, 'none')));
      if (GRAPHILE) w1Graphile.push(await attempt('W1 throughput', 'graphile-worker', run, () => graphileDrain(run)));
    }
    if (ONLY.has('ceiling')) {
      if (pgbench) {
        ceil1.push(await attempt('ceiling 1/tx', 'pgbench', run, () => ceiling(1, run)));
        ceil50.push(await attempt('ceiling 50/tx', 'pgbench', run, () => ceiling(50, run)));
      } else if (run === 1) {
        skipped.push('ceiling: pgbench not found (set PGBENCH)');
      }
    }
    if (ONLY.has('w5')) {
      w5Blocked.push(await attempt('W5 backlog (blocked)', 'taiat', run, () => taiatDrain(run, 'blocked')));
      w5History.push(await attempt('W5 backlog (history)', 'taiat', run, () => taiatDrain(run, 'history')));
    }
  }
  for (let run = 1; run <= RUNS && ONLY.has('w2'); run++) {
    w2Taiat.push(await attempt('W2 latency', 'taiat', run, () => latency('taiat', run)));
    if (GRAPHILE) w2Graphile.push(await attempt('W2 latency', 'graphile-worker', run, () => latency('graphile', run)));
    w2Floor.push(await attempt('W2 latency', 'floor (bare SQL)', run, () => latency('floor', run)));
  }
  for (let run = 1; run <= RUNS; run++) {
    if (ONLY.has('w3')) w3.push(await attempt('W3 chains', 'taiat', run, () => taiatGraph('chains', run)));
    if (ONLY.has('w4')) w4.push(await attempt('W4 fan-in', 'taiat', run, () => taiatGraph('fan-in', run)));
  }
  // One soak (it is long), after everything else.
  const w6: (SoakResult | null)[] = [];
  if (ONLY.has('w6')) {
    log(`W6 memory soak: ${W6_SECONDS} s at ${W6_RATE} jobs/s`);
    w6.push(await attempt('W6 memory soak', 'taiat', 1, () => memorySoak(1), 1));
  }
  if (GRAPHILE && (ONLY.has('w3') || ONLY.has('w4'))) {
    skipped.push('graphile-worker W3/W4: graphile-worker has no job dependencies (a job cannot wait for other jobs), so chains and fan-in have no equivalent');
  }

  const failures = checks.filter((c) => !c.ok);
  const loadEnd = os.loadavg();
  await server.stop();
  server = undefined;

  await mkdir(RESULTS_DIR, { recursive: true });
  if (QUICK) {
    console.log(table(['workload', 'system', 'run', 'exactly once', 'detail'], checks.map((c) => [c.workload, c.system, c.run, c.ok ? 'ok' : 'FAIL', c.detail.slice(0, 140)])));
    for (const s of skipped) console.log(`skipped: ${s}`);
    await writeFile(path.join(RESULTS_DIR, 'quick.json'), `${JSON.stringify({ mode: 'quick', startedAt, sizes: SIZES, checks, skipped }, null, 2)}\n`);
    console.log(failures.length === 0 ? `\nbench:quick: all ${checks.length} checks passed` : `\nbench:quick: ${failures.length} of ${checks.length} checks FAILED`);
    process.exitCode = failures.length === 0 && checks.length > 0 ? 0 : 1;
    return;
  }

  const W1T = summarize(w1Taiat);
  const W1G = summarize(w1Graphile);
  const C1 = summarize(ceil1);
  const C50 = summarize(ceil50);
  const W2T = summarize(w2Taiat);
  const W2G = summarize(w2Graphile);
  const W2F = summarize(w2Floor);
  const W3 = summarize(w3);
  const W4 = summarize(w4);
  const W5B = summarize(w5Blocked);
  const W5H = summarize(w5History);
  const W6 = w6[0] ?? null;
  const t1 = W1T.median.drainJobsPerSec;
  const g1 = W1G.median.drainJobsPerSec;
  const c1 = C1.median.jobsPerSecond;
  const c50 = C50.median.jobsPerSecond;
  const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b !== 0 ? round(a / b, 3) : null);

  const ratios = {
    taiatW1OverGraphileW1: div(t1, g1),
    taiatW1CreateOverGraphileW1Create: div(W1T.median.createJobsPerSec, W1G.median.createJobsPerSec),
    taiatW1OverCeiling1PerTx: div(t1, c1),
    taiatW1OverCeiling50PerTx: div(t1, c50),
    graphileW1OverCeiling1PerTx: div(g1, c1),
    graphileW1OverCeiling50PerTx: div(g1, c50),
    taiatW2P50OverGraphileW2P50: div(W2T.median.p50, W2G.median.p50),
    taiatW2P50OverFloorP50: div(W2T.median.p50, W2F.median.p50),
    taiatW2P99OverFloorP99: div(W2T.median.p99, W2F.median.p99),
    graphileW2P50OverFloorP50: div(W2G.median.p50, W2F.median.p50),
    taiatW5BlockedOverW1: div(W5B.median.drainJobsPerSec, t1),
    taiatW5HistoryOverW1: div(W5H.median.drainJobsPerSec, t1),
    taiatPeakRssOverGraphilePeakRss: div(W1T.median.peakRssMb, W1G.median.peakRssMb),
  };

  const graphileVersion = (JSON.parse(await readFile(path.join(ROOT, 'node_modules/graphile-worker/package.json'), 'utf8')) as { version: string }).version;
  const cpus = os.cpus();
  const results = {
    mode: 'full',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 0),
    runsPerWorkload: RUNS,
    sizes: SIZES,
    concurrency: CONCURRENCY,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model,
      memoryBytes: os.totalmem(),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
      loadAverageStart: loadStart.map((l) => round(l, 2)),
      loadAverageEnd: loadEnd.map((l) => round(l, 2)),
    },
    postgres: { source: serverKind, ...pg, pgStatStatements: flags.pgss },
    versions: { taiat: VERSION, graphileWorker: graphileVersion, pgbench },
    graphileWorkerSettings: { concurrentJobs: CONCURRENCY, maxPoolSize: CONCURRENCY + 1, pollInterval: 2000, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    workloads: {
      w1Throughput: { taiat: W1T, graphileWorker: W1G },
      w2Latency: { taiat: W2T, graphileWorker: W2G, floor: W2F },
      w3Chains: { taiat: W3, graphileWorker: 'skipped: no job dependencies' },
      w4FanIn: { taiat: W4, graphileWorker: 'skipped: no job dependencies' },
      w5Backlog: { blocked: W5B, history: W5H, backlogRows: SIZES.w5Backlog },
      w6Memory: { taiatPeakRssMb: W1T.median.peakRssMb ?? null, graphileWorkerPeakRssMb: W1G.median.peakRssMb ?? null, soak: W6 },
    },
    ceiling: { clients: CEILING_CLIENTS, script: { '1': CEILING_SCRIPT(1), '50': CEILING_SCRIPT(50) }, perTx1: C1, perTx50: C50 },
    ratios,
    skipped,
    correctness: { ok: failures.length === 0, checks },
  };
  await writeFile(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  const m = (s: { median: Record<string, number> }, k: string) => s.median[k];
  const spread = (s: Summary<object>, k: string, digits = 0) => (s.min[k] === undefined ? '-' : `${fmt(s.min[k], digits)}-${fmt(s.max[k], digits)}`);
  const perJob = (seconds: number | undefined) => (seconds === undefined ? undefined : (seconds / SIZES.w1Jobs) * 1e6);
  const cpu = (x: Summary<object>, k: string) => fmt(perJob(m(x, k)));
  const rows: (string | number)[][] = [
    [`W1 create ${fmt(SIZES.w1Jobs)} in one call (jobs/s)`, fmt(m(W1T, 'createJobsPerSec')), spread(W1T, 'createJobsPerSec'), fmt(m(W1G, 'createJobsPerSec')), '-', ratio(m(W1T, 'createJobsPerSec'), m(W1G, 'createJobsPerSec')), '-'],
    ['W1 drain, 1 process x16 (jobs/s)', fmt(t1), spread(W1T, 'drainJobsPerSec'), fmt(g1), `${fmt(c1)} (1/tx)`, ratio(t1, g1), ratio(t1, c1)],
    ['', '', '', '', `${fmt(c50)} (50/tx)`, '', ratio(t1, c50)],
    ['W1 worker CPU per job (us)', cpu(W1T, 'workerCpuSeconds'), '', cpu(W1G, 'workerCpuSeconds'), '-', ratio(m(W1T, 'workerCpuSeconds'), m(W1G, 'workerCpuSeconds')), '-'],
    ['W1 Postgres CPU per job (us)', cpu(W1T, 'serverCpuSeconds'), '', cpu(W1G, 'serverCpuSeconds'), '-', ratio(m(W1T, 'serverCpuSeconds'), m(W1G, 'serverCpuSeconds')), '-'],
    ['W2 latency p50 (ms)', fmt(m(W2T, 'p50'), 1), spread(W2T, 'p50', 1), fmt(m(W2G, 'p50'), 1), `${fmt(m(W2F, 'p50'), 1)} (floor)`, ratio(m(W2T, 'p50'), m(W2G, 'p50')), ratio(m(W2T, 'p50'), m(W2F, 'p50'))],
    ['W2 latency p95 (ms)', fmt(m(W2T, 'p95'), 1), spread(W2T, 'p95', 1), fmt(m(W2G, 'p95'), 1), `${fmt(m(W2F, 'p95'), 1)} (floor)`, ratio(m(W2T, 'p95'), m(W2G, 'p95')), ratio(m(W2T, 'p95'), m(W2F, 'p95'))],
    ['W2 latency p99 (ms)', fmt(m(W2T, 'p99'), 1), spread(W2T, 'p99', 1), fmt(m(W2G, 'p99'), 1), `${fmt(m(W2F, 'p99'), 1)} (floor)`, ratio(m(W2T, 'p99'), m(W2G, 'p99')), ratio(m(W2T, 'p99'), m(W2F, 'p99'))],
    [`W3 ${SIZES.w3Chains} chains x${SIZES.w3Steps}: all done (s)`, fmt(m(W3, 'seconds'), 2), spread(W3, 'seconds', 2), 'n/a', '-', '-', '-'],
    ['W3 chains (jobs/s)', fmt(m(W3, 'jobsPerSec')), spread(W3, 'jobsPerSec'), 'n/a', '-', '-', '-'],
    [`W4 ${SIZES.w4Groups} x (${SIZES.w4Width} + join): all done (s)`, fmt(m(W4, 'seconds'), 2), spread(W4, 'seconds', 2), 'n/a', '-', '-', '-'],
    ['W4 fan-in (jobs/s)', fmt(m(W4, 'jobsPerSec')), spread(W4, 'jobsPerSec'), 'n/a', '-', '-', '-'],
    [`W5 drain, ${fmt(SIZES.w5Backlog)} blocked (jobs/s)`, fmt(m(W5B, 'drainJobsPerSec')), spread(W5B, 'drainJobsPerSec'), '-', '-', `${ratio(m(W5B, 'drainJobsPerSec'), t1)} of W1`, ratio(m(W5B, 'drainJobsPerSec'), c1)],
    [`W5 drain, ${fmt(SIZES.w5Backlog)} history (jobs/s)`, fmt(m(W5H, 'drainJobsPerSec')), spread(W5H, 'drainJobsPerSec'), '-', '-', `${ratio(m(W5H, 'drainJobsPerSec'), t1)} of W1`, ratio(m(W5H, 'drainJobsPerSec'), c1)],
    ['W6 worker peak RSS in W1 (MB)', fmt(m(W1T, 'peakRssMb'), 1), spread(W1T, 'peakRssMb', 1), fmt(m(W1G, 'peakRssMb'), 1), '-', ratio(m(W1T, 'peakRssMb'), m(W1G, 'peakRssMb')), '-'],
    [`W6 soak ${W6 ? fmt(W6.seconds / 60, 1) : '-'} min at ${W6_RATE}/s: RSS early -> late (MB)`, W6 ? `${fmt(W6.rssEarlyMb, 1)} -> ${fmt(W6.rssLateMb, 1)}` : '-', W6 ? `peak ${fmt(W6.rssPeakMb, 1)}` : '-', '-', '-', '-', '-'],
    ['W6 soak: RSS growth (MB), slope (MB/min)', W6 ? fmt(W6.rssGrowthMb, 1) : '-', W6 ? `${fmt(W6.rssSlopeMbPerMin, 2)}/min` : '-', '-', '-', '-', '-'],
  ];
  console.log(`\ntaiat ${VERSION} vs graphile-worker ${graphileVersion} vs the pgbench ceiling (W1) and the bare-SQL floor (W2); Postgres ${pg.settings.server_version}, fsync=${pg.settings.fsync}, synchronous_commit=${pg.settings.synchronous_commit}; ${cpus.length} cpus, node ${process.version}; median of ${RUNS} run(s)\n`);
  console.log(table(['metric', 'taiat', 'taiat min-max', 'graphile-worker', 'ceiling / floor', 'taiat/graphile', 'taiat/ceiling or floor'], rows));
  for (const s of skipped) console.log(`skipped: ${s}`);
  console.log(`\ncorrectness: ${failures.length === 0 ? `all ${checks.length} checks passed (every job executed exactly once)` : `${failures.length} of ${checks.length} checks FAILED`}`);
  for (const f of failures) console.log(`  FAIL ${f.workload} ${f.system} run ${f.run}: ${f.detail}`);
  console.log(`results: ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'latest.json'))}`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main()
  .catch(async (error: unknown) => {
    await shutdown(1, `benchmark failed: ${(error as Error)?.stack ?? error}`);
  })
  .finally(async () => {
    killAllChildren();
    if (server) await server.stop().catch(() => {});
    // Lingering handles (pools in libraries) must not keep the benchmark alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  });
