/**
 * W1 (throughput), W5 (W1's drain over a backlog) and W8's variants (keys, limits): jobs created in one call, then drained by
 * one worker process; jobs/s created and drained, worker and server CPU, worker memory. The peers' W1: workloads/peers.ts.
 */
import { performance } from 'node:perf_hooks';
import { JobManager, type NewJob } from '../../dist/index.js';
import type { BenchChild } from '../lib/child.js';
import { cpuSecondsBetween, withSql, type BenchDatabase, type BenchServer } from '../lib/server.js';
import { mb } from '../lib/stats.js';
import { withTimeout } from '../lib/time.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { QUICK, SIZES, TIMEOUTS } from '../config.js';
import { explainClaim, pgssReset, pgssTop } from '../diagnostics.js';
import { server, spawnWorker, withDatabase } from '../setup.js';
import { backlogProblems, setupBacklog, type Backlog } from './backlog.js';

export interface DrainResult {
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

export const noopJobs = (n: number, keyOf?: (i: number) => string): NewJob[] =>
  Array.from({ length: n }, (_, i) => ({ jobType: 'agent', name: 'noop', payload: { agent_name: 'noop' }, ...(keyOf ? { concurrencyKey: keyOf(i) } : {}) }));

/** Waits for a drain child to be ready and to drain, then takes its figures and stops it. */
export async function drainFigures(child: BenchChild, cpuBefore: Awaited<ReturnType<BenchServer['cpuTicks']>>, db: BenchDatabase, run: number, drainMs = TIMEOUTS.drain) {
  const ready = await child.next('ready', TIMEOUTS.ready);
  const drained = await child.next('drained', drainMs).catch(async (error: unknown) => {
    // How far it got, for the failure's message: taiat's history, or pg-boss's completed jobs.
    const done = await withSql(db.url, async (sql) => {
      const count = (query: string) => sql.unsafe<{ n: number }[]>(query).then((rows) => rows[0]!.n);
      return count('SELECT count(*)::int AS n FROM taiat_job_history').catch(() => count(`SELECT count(*)::int AS n FROM pgboss.job WHERE state = 'completed'`));
    }).catch(() => '?');
    throw new Error(`${(error as Error).message} (${done} job(s) done by then)`);
  });
  const serverCpuSeconds = cpuSecondsBetween(cpuBefore, await server().cpuTicks());
  const pgss = run === 1 ? await pgssTop(db.name) : undefined;
  const report = await child.request({ type: 'report' }, 'report', 30_000);
  await child.stop();
  return { ready, drained, serverCpuSeconds, pgss, report };
}

/** The figures both systems report, from a drain and the create call's duration. */
export function drainResult(n: number, createMs: number, figures: Awaited<ReturnType<typeof drainFigures>>): DrainResult {
  const { ready, drained, serverCpuSeconds, report } = figures;
  return {
    createJobsPerSec: n / (createMs / 1000),
    drainJobsPerSec: n / (drained.ms / 1000),
    drainSeconds: drained.ms / 1000,
    workerStartMs: ready.startMs,
    workerCpuSeconds: (drained.cpu.user + drained.cpu.system) / 1e6,
    serverCpuSeconds,
    peakRssMb: mb(report.vmHwm ?? report.peakRssSampled),
    rssAtReadyMb: mb(ready.rss)!,
  };
}

/**
 * A variant of W1's taiat drain (W8 uses these): what the jobs carry, what is set before the
 * worker starts, and what watches the drain from beside it.
 */
export interface DrainVariant {
  workload: string;
  system: string;
  /** The per-run database's name. */
  database: string;
  backlog: Backlog;
  /** Job i's concurrency key; none: no keys (W1). */
  keyOf?: (i: number) => string;
  /** After the jobs were created, before the worker starts (e.g. queue limits). */
  prepare?: (jobs: JobManager, db: BenchDatabase, ids: string[]) => Promise<void>;
  /** Started before the worker, stopped once it drained; its problems join the run's checks. */
  watch?: (db: BenchDatabase) => DrainWatch;
  /** Further checks once drained (the database still holds the run). */
  checks?: (db: BenchDatabase, ids: string[]) => Promise<string[]>;
  okDetail?: string;
  /** How long the drain may take (default: TIMEOUTS.drain). */
  drainMs?: number;
}

export interface DrainWatch {
  stop(): Promise<{ problems: string[]; figures: Record<string, number | string | null> }>;
}

export type WatchedDrainResult = DrainResult & { watched?: Record<string, number | string | null> };

export async function taiatDrain(run: number, backlog: Backlog): Promise<DrainResult | null> {
  return taiatDrainVariant(run, {
    workload: backlog === 'none' ? 'W1 throughput' : `W5 backlog (${backlog})`,
    system: 'taiat',
    database: `bench_${backlog === 'none' ? 'w1' : `w5_${backlog}`}_taiat_r${run}`,
    backlog,
  });
}

/** W1's drain (jobs created in one call, one worker process of CONCURRENCY slots), with a variant's changes. */
export async function taiatDrainVariant(run: number, v: DrainVariant): Promise<WatchedDrainResult | null> {
  const { backlog } = v;
  const n = SIZES.w1Jobs;
  return withDatabase(v.database, 'taiat', async (db) => {
    const setupSeconds = await withTimeout(setupBacklog(db.url, backlog, SIZES.w5Backlog), TIMEOUTS.setup, 'backlog setup');
    const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    let child: BenchChild | undefined;
    let watch: DrainWatch | undefined;
    try {
      const input = noopJobs(n, v.keyOf);
      const t0 = performance.now();
      const created = await jobs.createJobs(input);
      const createMs = performance.now() - t0;
      const ids = created.map((j) => j.id);
      await v.prepare?.(jobs, db, ids);
      const claimPlan = run === 1 && !QUICK && !v.keyOf ? await explainClaim(db.url) : undefined;
      await pgssReset();
      const cpuBefore = await server().cpuTicks();
      watch = v.watch?.(db);
      child = spawnWorker('taiat', db, n);
      const figures = await drainFigures(child, cpuBefore, db, run, v.drainMs);
      const watched = await watch?.stop();
      watch = undefined;
      const problems = [
        ...executionProblems(figures.report, ids), ...childProblems(child), ...(await taiatHistoryProblems(db.url, ids)),
        ...(await backlogProblems(db.url, backlog, SIZES.w5Backlog)), ...(watched?.problems ?? []), ...((await v.checks?.(db, ids)) ?? []),
      ];
      check(v.workload, v.system, run, problems, v.okDetail ?? `${n} jobs, each executed once and completed once in taiat_job_history`);
      return {
        ...drainResult(n, createMs, figures),
        ...(backlog !== 'none' ? { setupSeconds } : {}),
        ...(claimPlan ? { claimPlan } : {}),
        ...(figures.pgss ? { pgss: figures.pgss } : {}),
        ...(watched ? { watched: watched.figures } : {}),
      };
    } finally {
      await watch?.stop().catch(() => undefined);
      child?.kill();
      await jobs.close();
    }
  });
}
