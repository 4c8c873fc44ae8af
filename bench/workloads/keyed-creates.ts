/**
 * W7 (keyed creates): jobs created with createJobs in calls of w7Batch, without keys, then with
 * unique keys of which half are held: in each call the odd jobs repeat a key of the call before
 * (its even jobs', still pending), or, in the first call, of the job before them. Jobs/s of each,
 * on a fresh database each, in alternating order; issue 19 asks the keyed ones for at least
 * 0.7x the plain ones.
 */
import { performance } from 'node:perf_hooks';
import { JobManager, type NewJob } from '../../dist/index.js';
import { withSql } from '../lib/server.js';
import { check } from '../checks.js';
import { SIZES } from '../config.js';
import { withDatabase } from '../setup.js';

export interface KeyedCreatesResult {
  plainJobsPerSec: number;
  keyedJobsPerSec: number;
}

const keyOf = (call: number, j: number) => (j % 2 === 0 ? `k${call}-${j}` : call === 0 ? `k0-${j - 1}` : `k${call - 1}-${j - 1}`);

function callJobs(call: number, size: number, keyed: boolean): NewJob[] {
  return Array.from({ length: size }, (_, j) => ({
    jobType: 'agent', name: 'noop', payload: { agent_name: 'noop', parameters: { call, j } }, ...(keyed ? { uniqueKey: keyOf(call, j) } : {}),
  }));
}

/** Creates the jobs call by call; returns the milliseconds and the problems the checks found. */
async function createAll(keyed: boolean, run: number): Promise<{ ms: number; problems: string[] }> {
  const n = SIZES.w7Jobs;
  const size = SIZES.w7Batch;
  return withDatabase(`bench_w7_${keyed ? 'keyed' : 'plain'}_r${run}`, 'taiat', async (db) => {
    const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    const calls = Array.from({ length: n / size }, (_, c) => callJobs(c, size, keyed));
    const problems: string[] = [];
    let deduplicated = 0;
    let ms: number;
    try {
      const byKey = new Map<string, string>();
      const t0 = performance.now();
      const results = [];
      for (const input of calls) results.push(await jobs.createJobs(input));
      ms = performance.now() - t0;
      for (const created of results) {
        for (const job of created) {
          if (job.deduplicated) deduplicated += 1;
          if (!job.uniqueKey) continue;
          const holder = byKey.get(job.uniqueKey);
          if (holder === undefined) byKey.set(job.uniqueKey, job.id);
          else if (holder !== job.id || !job.deduplicated) problems.push(`key ${job.uniqueKey}: ${job.id} besides ${holder}`);
        }
      }
    } finally {
      await jobs.close();
    }
    const expected = keyed ? n / 2 : n;
    const [row] = await withSql(db.url, (sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs`);
    if (row!.n !== expected) problems.push(`${row!.n} jobs stored, expected ${expected}`);
    if (deduplicated !== n - expected) problems.push(`${deduplicated} deduplicated, expected ${n - expected}`);
    return { ms, problems: problems.slice(0, 5) };
  });
}

export async function keyedCreates(run: number): Promise<KeyedCreatesResult> {
  const n = SIZES.w7Jobs;
  const order = run % 2 === 1 ? [false, true] : [true, false];
  const ms: Record<string, number> = {};
  for (const keyed of order) {
    const { ms: took, problems } = await createAll(keyed, run);
    check('W7 keyed creates', keyed ? 'taiat (keys, half held)' : 'taiat (no keys)', run, problems,
      keyed ? `${n / 2} jobs created, ${n / 2} answered with their key's holder` : `${n} jobs created`);
    ms[String(keyed)] = took;
  }
  return { plainJobsPerSec: n / (ms.false! / 1000), keyedJobsPerSec: n / (ms.true! / 1000) };
}
