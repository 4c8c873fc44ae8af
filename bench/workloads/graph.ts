/** W3 (chains) and W4 (fan-in): a dependency graph created up front, then one worker process. */
import { performance } from 'node:perf_hooks';
import { JobManager, type NewJob } from '../../dist/index.js';
import type { BenchChild } from '../lib/child.js';
import { withSql } from '../lib/server.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { SIZES, TIMEOUTS } from '../config.js';
import { spawnWorker, withDatabase } from '../setup.js';

export interface GraphResult {
  jobs: number;
  createJobsPerSec: number;
  seconds: number;
  jobsPerSec: number;
}

export function buildGraph(kind: 'chains' | 'fan-in'): NewJob[] {
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
  return graph;
}

/** Problems with the order: every dependency completed before its dependent started. */
async function orderProblems(url: string, ids: string[], edges: number): Promise<string[]> {
  const order = await withSql(url, async (sql) => {
    const [row] = await sql<{ edges: number; violations: number }[]>`
      SELECT count(*)::int AS edges,
             count(*) FILTER (WHERE p.status <> 'completed' OR h.started_at < p.completed_at)::int AS violations
        FROM taiat_job_history h
        CROSS JOIN LATERAL jsonb_array_elements_text(h.dependencies) AS d(dep)
        JOIN taiat_job_history p ON p.job_id = d.dep
       WHERE h.job_id = ANY(${ids}::text[])`;
    return row!;
  });
  const problems: string[] = [];
  if (order.edges !== edges) problems.push(`${order.edges} dependency edges in history, expected ${edges}`);
  if (order.violations !== 0) problems.push(`${order.violations} job(s) started before a dependency completed`);
  return problems;
}

export async function taiatGraph(kind: 'chains' | 'fan-in', run: number): Promise<GraphResult | null> {
  const graph = buildGraph(kind);
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
      const problems = [...executionProblems(report, ids), ...childProblems(child), ...(await taiatHistoryProblems(db.url, ids)), ...(await orderProblems(db.url, ids, edges))];
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
