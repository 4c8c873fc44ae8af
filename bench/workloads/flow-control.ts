/**
 * Flow control (issue 20).
 *
 * W8: W1's drain with the jobs spread over w8Keys concurrency keys (contiguous blocks, so each
 * claim meets keys at their limit) and `keyConcurrency: w8KeyLimit` on the queue, against W1
 * itself (no keys, no limits), each on a fresh database, in alternating order; jobs/s of each and
 * their ratio (issue 20 asks at least 0.8). Never over the limit: sampled from the database.
 *
 * W8 for pg-boss (its `groupConcurrency`, W8's limit per group), the same way: its W1 drain with
 * the jobs in groups as W8's keys, against its own W1. Its active jobs per group are sampled like
 * taiat's and reported, not checked: pg-boss marks a racing fetch's excess active and gives it back
 * before any handler runs it, so its table may show more than the limit without a run over it.
 *
 * W9: w9Workers worker processes of CONCURRENCY slots each on one queue limited to
 * `concurrency: w9Limit`, jobs that each sleep w9SleepMs: throughput against w9Limit slots' worth
 * (w9Limit / sleep), the runs' overlap swept from a side table of their start and end times
 * (never above the limit, and reaching it), and the running jobs sampled from the database.
 */
import { performance } from 'node:perf_hooks';
import { JobManager, type NewJob } from '../../dist/index.js';
import type { BenchChild } from '../lib/child.js';
import { sampleRunning } from '../lib/running-sampler.js';
import { withSql, type BenchDatabase } from '../lib/server.js';
import { round } from '../lib/stats.js';
import { sleep, withTimeout } from '../lib/time.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { CONCURRENCY, log, SIZES, TIMEOUTS } from '../config.js';
import { spawnWorker, withDatabase } from '../setup.js';
import { taiatDrainVariant, type DrainWatch, type WatchedDrainResult } from './drain.js';
import { peerDrain } from './peers.js';

/** Milliseconds between the end of one sample of the running jobs and the next one. */
const SAMPLE_EVERY_MS = 3;

export interface KeyedLimitResult {
  unlimitedJobsPerSec: number;
  limitedJobsPerSec: number;
  /** limited / unlimited, this run (both halves share its machine load). */
  ratio: number;
  limitedWorkerCpuSeconds: number;
  unlimitedWorkerCpuSeconds: number;
  limitedServerCpuSeconds: number | null;
  unlimitedServerCpuSeconds: number | null;
  /**
   * The sampler on the limited drain: samples, mean gap, most running of one key (pg-boss: active
   * in its table), samples with a key over the limit (taiat: a failed check).
   */
  samples: number;
  sampleGapMs: number;
  maxPerKey: number;
  keyOverLimit: number;
  /** With --pgss, on the first run: each half's costliest statements. */
  limitedPgss?: unknown[];
  unlimitedPgss?: unknown[];
}

function samplerWatch(db: BenchDatabase, keyLimit?: number, system: 'taiat' | 'pgboss' = 'taiat'): DrainWatch {
  const sampler = sampleRunning(db.url, SAMPLE_EVERY_MS, keyLimit === undefined ? {} : { keyLimit }, system);
  return {
    async stop() {
      const s = await sampler.stop();
      const problems: string[] = [];
      if (system === 'taiat' && keyLimit !== undefined && s.keyOverLimit > 0) problems.push(`${s.keyOverLimit} sample(s) saw a key with more than ${keyLimit} running (most: ${s.maxPerKey} of ${s.maxKey})`);
      if (keyLimit !== undefined && s.samples < 10) problems.push(`only ${s.samples} sample(s) of the running jobs: the limit was hardly checked`);
      return { problems, figures: { samples: s.samples, sampleGapMs: round(s.meanGapMs, 2), maxRunning: s.maxRunning, maxPerKey: s.maxPerKey, maxKey: s.maxKey, keyOverLimit: s.keyOverLimit } };
    },
  };
}

/** Jobs i of each contiguous block of n / keys share key `k<block>`. */
const blockKey = (n: number, keys: number) => (i: number) => `k${Math.floor(i / Math.ceil(n / keys))}`;

/** The limited half: keys on the jobs (the field, or an UPDATE while createJobs ignores it), the queue's key limit. */
async function limitedDrain(run: number): Promise<WatchedDrainResult | null> {
  const n = SIZES.w1Jobs;
  const keyOf = blockKey(n, SIZES.w8Keys);
  const limit = SIZES.w8KeyLimit;
  return taiatDrainVariant(run, {
    workload: 'W8 key limit', system: `taiat (${SIZES.w8Keys} keys, ${limit} per key)`, database: `bench_w8_limited_r${run}`, backlog: 'none', keyOf,
    async prepare(jobs, db, ids) {
      await withSql(db.url, async (sql) => {
        const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE concurrency_key IS NOT NULL`;
        if (row!.n === ids.length) return;
        log(`W8: createJobs stored ${row!.n} of ${ids.length} concurrency keys; setting them with an UPDATE`);
        await sql`UPDATE taiat_jobs j SET concurrency_key = k.key FROM unnest(${ids}::text[], ${ids.map((_, i) => keyOf(i))}::text[]) AS k(id, key) WHERE j.id = k.id`;
      });
      await jobs.setQueueLimits('default', { keyConcurrency: limit });
    },
    watch: (db) => samplerWatch(db, limit),
    drainMs: TIMEOUTS.flowDrain,
    async checks(db) {
      // The key went along to history: every key's jobs, all completed.
      const rows = await withSql(db.url, (sql) => sql<{ k: string | null; n: number }[]>`
        SELECT concurrency_key AS k, count(*)::int AS n FROM taiat_job_history WHERE status = 'completed' GROUP BY 1`);
      const expected = new Map<string, number>();
      for (let i = 0; i < n; i++) expected.set(keyOf(i), (expected.get(keyOf(i)) ?? 0) + 1);
      const wrong = rows.filter((r) => r.k === null || expected.get(r.k) !== r.n);
      return wrong.length || rows.length !== expected.size
        ? [`history holds ${rows.length} key(s) (expected ${expected.size}), ${wrong.length} with the wrong count (e.g. ${JSON.stringify(wrong[0] ?? null)})`]
        : [];
    },
    okDetail: `${n} jobs over ${SIZES.w8Keys} keys, each executed once and completed once in history with its key; sampled running never above ${limit} per key`,
  });
}

async function unlimitedDrain(run: number): Promise<WatchedDrainResult | null> {
  return taiatDrainVariant(run, {
    workload: 'W8 key limit', system: 'taiat (no keys, no limits: W1)', database: `bench_w8_unlimited_r${run}`, backlog: 'none',
    // Sampled too, so both halves bear the sampler's cost alike.
    watch: (db) => samplerWatch(db),
    drainMs: TIMEOUTS.flowDrain,
  });
}

export async function keyedLimit(run: number): Promise<KeyedLimitResult | null> {
  return pairedHalves(run, 'W8', () => limitedDrain(run), () => unlimitedDrain(run));
}

/** W8 for pg-boss: its drain with W8's keys as groups under `groupConcurrency`, against its own W1. */
export async function pgbossKeyedLimit(run: number): Promise<KeyedLimitResult | null> {
  const limit = SIZES.w8KeyLimit;
  return pairedHalves(run, 'W8 pg-boss', () => peerDrain('pgboss', run, {
    workload: 'W8 key limit', system: `pg-boss (${SIZES.w8Keys} groups, groupConcurrency ${limit})`, database: `bench_w8_pgboss_grouped_r${run}`,
    groups: SIZES.w8Keys, watch: (db) => samplerWatch(db, limit, 'pgboss'), drainMs: TIMEOUTS.drain,
    // Fetches of the limit's size: a fetch that takes a group's whole allowance is then full, and
    // the worker fetches again at once (batches of 32 came back with 4 and waited for the poll:
    // under 170 jobs/s, against ~200 this way).
    env: { BENCH_PGBOSS_GROUP_CONCURRENCY: String(limit), BENCH_PGBOSS_BATCH_SIZE: String(limit) },
  }), () => peerDrain('pgboss', run, {
    workload: 'W8 key limit', system: 'pg-boss (no groups: its W1)', database: `bench_w8_pgboss_ungrouped_r${run}`,
    watch: (db) => samplerWatch(db, undefined, 'pgboss'), drainMs: TIMEOUTS.flowDrain,
  }));
}

/** A W8 run's two halves, in an order that alternates from run to run, side by side. */
async function pairedHalves(
  run: number, label: string, limitedHalf: () => Promise<WatchedDrainResult | null>, unlimitedHalf: () => Promise<WatchedDrainResult | null>,
): Promise<KeyedLimitResult | null> {
  const order = run % 2 === 1 ? ['unlimited', 'limited'] as const : ['limited', 'unlimited'] as const;
  const r: Partial<Record<'limited' | 'unlimited', WatchedDrainResult | null>> = {};
  for (const which of order) {
    r[which] = which === 'limited' ? await limitedHalf() : await unlimitedHalf();
    // Each half's own figure, should the other fail.
    if (r[which]) log(`${label} run ${run}, ${which}: ${round(r[which]!.drainJobsPerSec, 0)} jobs/s`);
  }
  const { limited, unlimited } = r;
  if (!limited || !unlimited) return null;
  const w = limited.watched ?? {};
  log(`${label} run ${run}: limited ${round(limited.drainJobsPerSec, 0)} jobs/s, unlimited ${round(unlimited.drainJobsPerSec, 0)} jobs/s, ratio ${round(limited.drainJobsPerSec / unlimited.drainJobsPerSec, 3)}; max ${w.maxPerKey} of one key in ${w.samples} samples, ${w.keyOverLimit} over the limit`);
  return {
    unlimitedJobsPerSec: unlimited.drainJobsPerSec,
    limitedJobsPerSec: limited.drainJobsPerSec,
    ratio: limited.drainJobsPerSec / unlimited.drainJobsPerSec,
    limitedWorkerCpuSeconds: limited.workerCpuSeconds,
    unlimitedWorkerCpuSeconds: unlimited.workerCpuSeconds,
    limitedServerCpuSeconds: limited.serverCpuSeconds,
    unlimitedServerCpuSeconds: unlimited.serverCpuSeconds,
    samples: Number(w.samples ?? 0),
    sampleGapMs: Number(w.sampleGapMs ?? 0),
    maxPerKey: Number(w.maxPerKey ?? 0),
    keyOverLimit: Number(w.keyOverLimit ?? 0),
    ...(limited.pgss ? { limitedPgss: limited.pgss, unlimitedPgss: unlimited.pgss } : {}),
  };
}

export interface QueueLimitResult {
  /** Jobs over the time from the first run's start to the last run's end. */
  jobsPerSec: number;
  /** limit / sleep: the limit's slots always busy. */
  expectedJobsPerSec: number;
  ratio: number;
  /** From spawning the workers until every job was in history. */
  wallSeconds: number;
  /** Most runs at once, swept from the side table; their mean over the span. */
  maxOverlap: number;
  meanOverlap: number;
  /** The sampler: most running jobs of the queue in one sample, samples taken. */
  maxRunningSampled: number;
  samples: number;
  /** Jobs each worker ran. */
  perWorker: number[];
}

type Span = [id: string, start: number, end: number];

export async function queueLimit(run: number): Promise<QueueLimitResult | null> {
  const n = SIZES.w9Jobs;
  const limit = SIZES.w9Limit;
  const sleepMs = SIZES.w9SleepMs;
  return withDatabase(`bench_w9_r${run}`, 'taiat', async (db) => {
    const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    const children: BenchChild[] = [];
    let sampler: ReturnType<typeof sampleRunning> | undefined;
    try {
      await jobs.setQueueLimits('default', { concurrency: limit });
      const input: NewJob[] = Array.from({ length: n }, () => ({ jobType: 'agent', name: 'sleep', payload: { agent_name: 'sleep', parameters: { ms: sleepMs } } }));
      const ids = (await jobs.createJobs(input)).map((j) => j.id);
      sampler = sampleRunning(db.url, SAMPLE_EVERY_MS, { limit });
      const t0 = performance.now();
      for (let w = 0; w < SIZES.w9Workers; w++) children.push(spawnWorker('taiat', db, 0));
      await Promise.all(children.map((c) => c.next('ready', TIMEOUTS.ready)));
      // Drained: every job in history (polled; the figure that counts is the side table's span).
      let done = 0;
      await withTimeout(withSql(db.url, async (sql) => {
        for (;;) {
          done = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_job_history`)[0]!.n;
          if (done >= n || children.some((c) => c.received('job-failed').length > 0)) return;
          await sleep(50);
        }
      }), TIMEOUTS.flowDrain, 'W9 drain').catch((error: unknown) => {
        throw new Error(`${(error as Error).message} (${done} of ${n} job(s) in history by then)`);
      });
      const wallSeconds = (performance.now() - t0) / 1000;
      const sampled = await sampler.stop();
      sampler = undefined;
      const reports = [];
      for (const c of children) reports.push(await c.request({ type: 'report' }, 'report', 30_000));
      await Promise.all(children.map((c) => c.stop()));

      // Exactly once: the executions of all workers together, and history.
      const executions = new Map<string, number>();
      for (const rep of reports) for (const [id, k] of rep.executions as [string, number][]) executions.set(id, (executions.get(id) ?? 0) + k);
      const problems = [
        ...executionProblems({ type: 'report', executions: [...executions] }, ids), ...children.flatMap(childProblems),
        ...(await taiatHistoryProblems(db.url, ids)),
      ];
      // The side table: every run's start and end, then a sweep (at equal times an end goes first).
      const spans = reports.flatMap((rep) => rep.spans as Span[]);
      const sweep = await withSql(db.url, async (sql) => {
        await sql`CREATE TABLE bench_runs (job_id text NOT NULL, started_ms float8 NOT NULL, ended_ms float8 NOT NULL)`;
        await sql`INSERT INTO bench_runs SELECT * FROM unnest(${spans.map((s) => s[0])}::text[], ${spans.map((s) => s[1])}::float8[], ${spans.map((s) => s[2])}::float8[])`;
        const [row] = await sql<{ runs: number; jobs: number; first: number; last: number; busy: number; max: number }[]>`
          WITH events AS (SELECT started_ms AS t, 1 AS d FROM bench_runs UNION ALL SELECT ended_ms, -1 FROM bench_runs),
               running AS (SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS r FROM events)
          SELECT (SELECT count(*)::int FROM bench_runs) AS runs, (SELECT count(DISTINCT job_id)::int FROM bench_runs) AS jobs,
                 (SELECT min(started_ms) FROM bench_runs) AS first, (SELECT max(ended_ms) FROM bench_runs) AS last,
                 (SELECT sum(ended_ms - started_ms) FROM bench_runs) AS busy, (SELECT max(r)::int FROM running) AS max`;
        return row!;
      });
      if (sweep.runs !== n || sweep.jobs !== n) problems.push(`side table: ${sweep.runs} run(s) of ${sweep.jobs}/${n} jobs`);
      if (sweep.max > limit) problems.push(`side table: ${sweep.max} runs at once, over the limit of ${limit}`);
      if (sweep.max < limit) problems.push(`side table: at most ${sweep.max} runs at once: the limit of ${limit} was never reached`);
      if (sampled.overLimit > 0) problems.push(`${sampled.overLimit} sample(s) saw more than ${limit} running (most: ${sampled.maxRunning})`);
      check('W9 queue limit', `taiat (${SIZES.w9Workers} workers x${CONCURRENCY}, limit ${limit})`, run, problems,
        `${n} jobs, each run once and completed once in history; at most ${sweep.max} at once (side table), ${sampled.maxRunning} running in ${sampled.samples} samples`);
      const spanSeconds = (sweep.last - sweep.first) / 1000;
      const expected = limit / (sleepMs / 1000);
      const result: QueueLimitResult = {
        jobsPerSec: n / spanSeconds,
        expectedJobsPerSec: expected,
        ratio: n / spanSeconds / expected,
        wallSeconds,
        maxOverlap: sweep.max,
        meanOverlap: round(sweep.busy / (sweep.last - sweep.first), 3),
        maxRunningSampled: sampled.maxRunning,
        samples: sampled.samples,
        perWorker: reports.map((rep) => (rep.spans as Span[]).length),
      };
      log(`W9 run ${run}: ${round(result.jobsPerSec, 0)} jobs/s of ${round(expected, 0)} expected (${round(result.ratio, 3)}), max ${sweep.max} at once (mean ${result.meanOverlap}), ${sampled.maxRunning} running sampled; per worker ${result.perWorker.join('/')}`);
      return result;
    } finally {
      await sampler?.stop().catch(() => undefined);
      for (const c of children) c.kill();
      await jobs.close();
    }
  });
}
