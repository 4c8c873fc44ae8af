/**
 * W1 (throughput) and W5 (W1's drain over a backlog): jobs created in one call, then drained by
 * one worker process; jobs/s created and drained, worker and server CPU, worker memory.
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
import { graphileUtils, server, spawnWorker, withDatabase } from '../setup.js';
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

const noopJobs = (n: number): NewJob[] => Array.from({ length: n }, () => ({ jobType: 'agent', name: 'noop', payload: { agent_name: 'noop' } }));

/** Waits for a drain child to be ready and to drain, then takes its figures and stops it. */
async function drainFigures(child: BenchChild, cpuBefore: Awaited<ReturnType<BenchServer['cpuTicks']>>, db: BenchDatabase, run: number) {
  const ready = await child.next('ready', TIMEOUTS.ready);
  const drained = await child.next('drained', TIMEOUTS.drain);
  const serverCpuSeconds = cpuSecondsBetween(cpuBefore, await server().cpuTicks());
  const pgss = run === 1 ? await pgssTop(db.name) : undefined;
  const report = await child.request({ type: 'report' }, 'report', 30_000);
  await child.stop();
  return { ready, drained, serverCpuSeconds, pgss, report };
}

/** The figures both systems report, from a drain and the create call's duration. */
function drainResult(n: number, createMs: number, figures: Awaited<ReturnType<typeof drainFigures>>): DrainResult {
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

export async function taiatDrain(run: number, backlog: Backlog): Promise<DrainResult | null> {
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
      const cpuBefore = await server().cpuTicks();
      child = spawnWorker('taiat', db, n);
      const figures = await drainFigures(child, cpuBefore, db, run);
      const problems = [...executionProblems(figures.report, ids), ...childProblems(child), ...(await taiatHistoryProblems(db.url, ids)), ...(await backlogProblems(db.url, backlog, SIZES.w5Backlog))];
      check(workload, 'taiat', run, problems, `${n} jobs, each executed once and completed once in taiat_job_history`);
      return {
        ...drainResult(n, createMs, figures),
        ...(backlog !== 'none' ? { setupSeconds } : {}),
        ...(claimPlan ? { claimPlan } : {}),
        ...(figures.pgss ? { pgss: figures.pgss } : {}),
      };
    } finally {
      child?.kill();
      await jobs.close();
    }
  });
}

export async function graphileDrain(run: number): Promise<DrainResult | null> {
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
      const cpuBefore = await server().cpuTicks();
      child = spawnWorker('graphile', db, n);
      const figures = await drainFigures(child, cpuBefore, db, run);
      const left = await withSql(db.url, async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM graphile_worker.jobs`)[0]!.n);
      const problems = [...executionProblems(figures.report, ids), ...childProblems(child)];
      if (left !== 0) problems.push(`${left} job row(s) left (graphile-worker deletes completed jobs)`);
      check('W1 throughput', 'graphile-worker', run, problems, `${n} jobs, each executed once; no job row left`);
      return { ...drainResult(n, createMs, figures), ...(figures.pgss ? { pgss: figures.pgss } : {}) };
    } finally {
      child?.kill();
      await close();
    }
  });
}
