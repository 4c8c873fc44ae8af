/**
 * Big graphs (issue 22), `--only g1,g2,g3,g4` (`npm run bench:graphs`). Each on a fresh database,
 * with one worker process of CONCURRENCY slots (the benchmark's child), sizes divided by
 * SIZES.graphScale (quick: 100):
 * - G1: one createJobs of a 100,000-job graph (100 layers of 1,000, each job depending on one or
 *   two jobs of the layer before), then its drain;
 * - G2: a fan-out of 1 -> 10,000 -> 1;
 * - G3: a chain of 1,000 steps;
 * - G4: a failure that cascades to 100,000 dependents (the root's agent fails for good; its
 *   dependents are G1's graph below it).
 * Each reports its create time, its run time, the creator's (this process's) and the worker's peak
 * memory, and checks that every job ran exactly once (G1-G3) or was cancelled without running (G4).
 */
import { performance } from 'node:perf_hooks';
import { JobManager, type NewJob } from '../../dist/index.js';
import type { BenchChild, Message } from '../lib/child.js';
import { withSql } from '../lib/server.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { log, SIZES } from '../config.js';
import { spawnWorker, withDatabase } from '../setup.js';

const SCALE = SIZES.graphScale;
const noop = { agent_name: 'noop' };

function layered(prefix: string, layers: number, width: number, root?: string): NewJob[] {
  const jobs: NewJob[] = [];
  for (let l = 0; l < layers; l++) {
    for (let i = 0; i < width; i++) {
      const deps = l === 0 ? (root ? [root] : []) : i % 2 === 0 ? [`${prefix}-${l - 1}-${i}`, `${prefix}-${l - 1}-${(i + 1) % width}`] : [`${prefix}-${l - 1}-${i}`];
      jobs.push({ id: `${prefix}-${l}-${i}`, jobType: 'agent', name: `layer-${l}`, payload: noop, dependencies: deps });
    }
  }
  return jobs;
}

const n = (full: number) => (full / SCALE).toLocaleString('en-US');
/** G1-G4, by key: the name in the report and the graph. */
const SCENARIOS: Record<string, { name: string; build: () => { jobs: NewJob[]; fails?: boolean } }> = {
  g1: { name: `G1 graph of ${n(100_000)}`, build: () => ({ jobs: layered('g', 100, 1000 / SCALE) }) },
  g2: { name: `G2 fan-out 1 -> ${n(10_000)} -> 1`, build: () => {
    const wide = Array.from({ length: 10_000 / SCALE }, (_, i): NewJob => ({ id: `f-${i}`, jobType: 'agent', name: 'wide', payload: noop, dependencies: ['f-root'] }));
    return { jobs: [{ id: 'f-root', jobType: 'agent', name: 'root', payload: noop }, ...wide, { id: 'f-join', jobType: 'agent', name: 'join', payload: noop, dependencies: wide.map((j) => j.id!) }] };
  } },
  g3: { name: `G3 chain of ${n(1000)}`, build: () => ({ jobs: Array.from({ length: 1000 / SCALE }, (_, i): NewJob => ({ id: `c-${i}`, jobType: 'agent', name: 'step', payload: noop, dependencies: i ? [`c-${i - 1}`] : [] })) }) },
  // The root first, on its own (a call holds at most 100,000 jobs), then its dependents in one call.
  g4: { name: `G4 failure cascading to ${n(100_000)}`, build: () => ({
    jobs: [{ id: 'x-root', jobType: 'agent', name: 'root', payload: { agent_name: 'no-such-agent' }, maxRetries: 0 }, ...layered('x', 100, 1000 / SCALE, 'x-root')],
    fails: true,
  }) },
};
export const GRAPH_KEYS = Object.keys(SCENARIOS);

export interface BigGraphResult {
  scenario: string;
  jobs: number;
  createSeconds: number;
  runSeconds: number;
  /** This process's peak RSS during the create, and its growth over the RSS before it. */
  creatorPeakRssMb: number;
  creatorRssGrowthMb: number;
  workerPeakRssMb: number | null;
}

export async function bigGraph(key: string, run: number): Promise<BigGraphResult | null> {
  const { name, build } = SCENARIOS[key]!;
  return withDatabase(`bench_${key}_r${run}`, 'taiat', async (db) => {
    const { jobs: graph, fails } = build();
    const manager = await JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
    let child: BenchChild | undefined;
    try {
      const t0 = performance.now();
      if (fails) await manager.createJobs(graph.slice(0, 1));
      await manager.createJobs(fails ? graph.slice(1) : graph);
      const createSeconds = (performance.now() - t0) / 1000;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage.rss());
      child = spawnWorker('taiat', db, fails ? 0 : graph.length);
      await child.next('ready', 60_000);
      const t1 = performance.now();
      if (fails) {
        // Cancelled jobs emit no completion: done when the whole graph is in history.
        for (;;) {
          const [row] = await withSql(db.url, (sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_job_history`);
          if (row!.n === graph.length) break;
          if (performance.now() - t1 > 600_000) throw new Error(`${name}: ${row!.n} of ${graph.length} in history after 10 minutes`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } else {
        await child.next('drained', 600_000);
      }
      const runSeconds = (performance.now() - t1) / 1000;
      const report = await child.request({ type: 'report' }, 'report', 30_000);
      await child.stop();
      const ids = graph.map((j) => j.id!);
      const problems = fails
        ? await cascadeProblems(db.url, graph.length, report)
        : [...executionProblems(report, ids), ...childProblems(child), ...(await taiatHistoryProblems(db.url, ids))];
      check(name, 'taiat', run, problems, fails ? `the root failed, its ${graph.length - 1} dependents cancelled, none ran` : `${graph.length} jobs each executed once`);
      const mb = (bytes: number | undefined) => (bytes === undefined ? null : Math.round(bytes / 1024 / 1024));
      const figures = { scenario: name, jobs: graph.length, createSeconds, runSeconds, creatorPeakRssMb: mb(peak)!, creatorRssGrowthMb: mb(peak - before)!, workerPeakRssMb: mb(report.vmHwm ?? report.peakRssSampled) };
      log(`${name}: create ${createSeconds.toFixed(2)} s, run ${runSeconds.toFixed(2)} s, creator ${figures.creatorPeakRssMb} MB, worker ${figures.workerPeakRssMb} MB`);
      return figures;
    } finally {
      clearInterval(sampler);
      child?.kill();
      await manager.close();
    }
  });
}

async function cascadeProblems(url: string, total: number, report: Message): Promise<string[]> {
  const rows = await withSql(url, (sql) => sql<{ status: string; n: number }[]>`SELECT status, count(*)::int AS n FROM taiat_job_history GROUP BY 1`);
  const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  const problems: string[] = [];
  if (by.failed !== 1) problems.push(`${by.failed ?? 0} failed jobs, expected the root only`);
  if (by.cancelled !== total - 1) problems.push(`${by.cancelled ?? 0} cancelled, expected ${total - 1}`);
  const ran = ((report.executions ?? []) as [string, number][]).length;
  if (ran !== 0) problems.push(`${ran} job(s) of the cascade ran`);
  return problems;
}

