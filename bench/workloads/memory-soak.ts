/**
 * W6's soak: one worker process under a steady rate of jobs (independent ones and two-step
 * chains) for W6_SECONDS; its RSS sampled every 5 s. Exactly-once is checked in the database
 * (the child only counts executions, so that its own bookkeeping does not grow).
 */
import { performance } from 'node:perf_hooks';
import { JobManager, type NewJob } from '../../dist/index.js';
import type { BenchChild } from '../lib/child.js';
import { withSql } from '../lib/server.js';
import { mb, round } from '../lib/stats.js';
import { sleep } from '../lib/time.js';
import { check, childProblems } from '../checks.js';
import { TIMEOUTS, W6_RATE, W6_SECONDS } from '../config.js';
import { spawnWorker, withDatabase } from '../setup.js';

export interface SoakResult {
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

/** One tick's jobs: independent ones and a two-step chain. */
function tickJobs(run: number, tick: number, perTick: number): NewJob[] {
  const batch: NewJob[] = [];
  for (let i = 0; i < perTick - 2; i++) batch.push({ jobType: 'agent', name: 'steady', payload: { agent_name: 'noop' } });
  const head = `w6-${run}-${tick}`;
  batch.push({ id: head, jobType: 'agent', name: 'head', payload: { agent_name: 'noop' } });
  batch.push({ jobType: 'agent', name: 'tail', payload: { agent_name: 'noop' }, dependencies: [head] });
  return batch;
}

/** Every job completed once in history with 1 attempt, none left. */
async function historyProblems(url: string, total: number): Promise<string[]> {
  return withSql(url, async (sql) => {
    const problems: string[] = [];
    const [row] = await sql<{ completed: number; other: number; max_attempts: number; live: number }[]>`
      SELECT (SELECT count(*)::int FROM taiat_job_history WHERE status = 'completed') AS completed,
             (SELECT count(*)::int FROM taiat_job_history WHERE status <> 'completed') AS other,
             (SELECT coalesce(max(attempts), 0)::int FROM taiat_job_history) AS max_attempts,
             (SELECT count(*)::int FROM taiat_jobs) AS live`;
    if (row!.completed !== total || row!.other !== 0) problems.push(`history: ${row!.completed} completed and ${row!.other} other for ${total} jobs`);
    if (row!.max_attempts !== 1) problems.push(`a job took ${row!.max_attempts} attempts`);
    if (row!.live !== 0) problems.push(`${row!.live} job(s) left in taiat_jobs`);
    return problems;
  });
}

/** RSS early and late (mean over a span), their difference, the peak, and the slope after warm-up. */
function rssTrend(samples: [number, number, number][], loadSeconds: number) {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const span = Math.min(60, loadSeconds / 3);
  const early = samples.filter(([t]) => t >= span && t < 2 * span).map(([, r]) => r);
  const late = samples.filter(([t]) => t >= loadSeconds - span && t <= loadSeconds).map(([, r]) => r);
  const steady = samples.filter(([t]) => t >= span && t <= loadSeconds);
  const mt = mean(steady.map(([t]) => t));
  const mr = mean(steady.map(([, r]) => r));
  const slope = steady.reduce((a, [t, r]) => a + (t - mt) * (r - mr), 0) / Math.max(1e-9, steady.reduce((a, [t]) => a + (t - mt) ** 2, 0));
  return {
    rssEarlyMb: round(mean(early), 1),
    rssLateMb: round(mean(late), 1),
    rssGrowthMb: round(mean(late) - mean(early), 1),
    rssPeakMb: round(Math.max(...samples.map(([, r]) => r)), 1),
    rssSlopeMbPerMin: round(slope * 60, 2),
  };
}

export async function memorySoak(run: number): Promise<SoakResult | null> {
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
        await jobs.createJobs(tickJobs(run, tick, perTick));
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
      problems.push(...(await historyProblems(db.url, total)));
      check('W6 memory soak', 'taiat', run, problems, `${total} jobs over ${Math.round(loadSeconds)} s, each executed once (counted) and completed once with 1 attempt`);
      return {
        seconds: round(loadSeconds, 1),
        jobs: total,
        jobsPerSec: round(total / loadSeconds, 0),
        samples,
        ...rssTrend(samples, loadSeconds),
      };
    } finally {
      child?.kill();
      await jobs.close();
    }
  });
}
