/**
 * WP (issue 22): 1, 2 and 4 worker processes of CONCURRENCY slots on one database, draining one
 * queue of n no-op jobs created up front (taiat, graphile-worker with W1's settings). The workers
 * start together at a `go`; the orchestrator times from it until the queue is empty (polled every
 * 10 ms). Figures: total jobs/s, and the claims that found nothing (taiat: `worker:claimed` with
 * 0 jobs; graphile-worker: its local queue's fetches that returned none).
 */
import { performance } from 'node:perf_hooks';
import { JobManager } from '../../dist/index.js';
import type { BenchChild, Message } from '../lib/child.js';
import { withSql, type BenchDatabase } from '../lib/server.js';
import { sleep } from '../lib/time.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { SIZES, TIMEOUTS } from '../config.js';
import { peerCreator, spawnWorker, withDatabase } from '../setup.js';
import { noopJobs } from './drain.js';
import { creatorCall } from './peers.js';

export interface ProcessesResult {
  processes: number;
  jobsPerSec: number;
  seconds: number;
  /** Claims (taiat) or local-queue fetches (graphile-worker) answered, all processes together. */
  claims: number;
  emptyClaims: number;
}

type System = 'taiat' | 'graphile';

async function createJobs(system: System, db: BenchDatabase, n: number): Promise<string[]> {
  if (system === 'graphile') {
    const creator = await peerCreator('graphile', db);
    try {
      return (await creatorCall(creator, { type: 'create-many', n }, 'created')).ids as string[];
    } finally {
      await creator.stop(10_000);
    }
  }
  const jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
  try {
    return (await jobs.createJobs(noopJobs(n))).map((j) => j.id);
  } finally {
    await jobs.close();
  }
}

/** Jobs not yet done: taiat moves a completed job to history, graphile-worker deletes it. */
async function left(system: System, url: string): Promise<number> {
  return withSql(url, async (sql) => {
    const [row] = system === 'taiat'
      ? await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs`
      : await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM graphile_worker.jobs`;
    return row!.n;
  });
}

/** One report of all the processes' executions (counts summed per job id). */
function mergedExecutions(reports: Message[]): Message {
  const counts = new Map<string, number>();
  for (const r of reports) for (const [id, n] of r.executions as [string, number][]) counts.set(id, (counts.get(id) ?? 0) + n);
  return { type: 'report', executions: [...counts] };
}

export async function multiProcess(system: System, processes: number, run: number): Promise<ProcessesResult | null> {
  const n = SIZES.wpJobs;
  const label = system === 'taiat' ? 'taiat' : 'graphile-worker';
  return withDatabase(`bench_wp${processes}_${system}_r${run}`, system === 'taiat' ? 'taiat' : 'peer', async (db) => {
    const children: BenchChild[] = [];
    try {
      const ids = await createJobs(system, db, n);
      for (let i = 0; i < processes; i++) children.push(spawnWorker(system, db, 0, { BENCH_START_ON_GO: '1' }));
      await Promise.all(children.map((c) => c.next('waiting', TIMEOUTS.ready)));
      const t0 = performance.now();
      for (const c of children) c.send({ type: 'go' });
      for (;;) {
        if ((await left(system, db.url)) === 0) break;
        if (performance.now() - t0 > TIMEOUTS.drain) throw new Error(`WP ${label} x${processes}: not drained within ${TIMEOUTS.drain / 1000} s`);
        await sleep(10);
      }
      const seconds = (performance.now() - t0) / 1000;
      const reports = await Promise.all(children.map((c) => c.request({ type: 'report' }, 'report', 30_000)));
      await Promise.all(children.map((c) => c.stop()));
      const problems = [...executionProblems(mergedExecutions(reports), ids), ...children.flatMap((c) => childProblems(c))];
      if (system === 'taiat') problems.push(...(await taiatHistoryProblems(db.url, ids)));
      check(`WP ${processes} process${processes > 1 ? 'es' : ''}`, label, run, problems, `${n} jobs, each executed once by one of ${processes} process(es)${system === 'taiat' ? ', completed once in history' : ', no job row left'}`);
      const sum = (key: string) => reports.reduce((s, r) => s + Number(r[key] ?? 0), 0);
      return { processes, jobsPerSec: n / seconds, seconds, claims: sum('claims'), emptyClaims: sum('emptyClaims') };
    } finally {
      for (const c of children) c.kill();
    }
  });
}
