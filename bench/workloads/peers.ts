/**
 * The peers' runs of W1 (graphile-worker, pg-boss) and of W3/W4 (pg-boss's flow()). Each peer's
 * jobs are created by its creator child and drained by its worker child, both on the child Node;
 * the checks mirror taiat's: every job executed exactly once, and what the peer's tables say.
 */
import type { BenchChild } from '../lib/child.js';
import { withSql, type BenchDatabase } from '../lib/server.js';
import { check, childProblems, executionProblems } from '../checks.js';
import { SIZES, TIMEOUTS } from '../config.js';
import { pgssReset } from '../diagnostics.js';
import { peerCreator, server, spawnWorker, withDatabase, type Peer } from '../setup.js';
import { drainFigures, drainResult, type DrainWatch, type WatchedDrainResult } from './drain.js';
import { buildGraph, type GraphResult } from './graph.js';

export const PEER_LABEL: Record<Peer, string> = { graphile: 'graphile-worker', pgboss: 'pg-boss' };

/** Sends a creator `message` and returns its reply; a reply with an error throws it. */
export async function creatorCall(creator: BenchChild, message: { type: string; [key: string]: unknown }, reply: string) {
  const answer = await creator.request(message, reply, TIMEOUTS.drain);
  if (answer.error) throw new Error(`${creator.name}: ${answer.error}`);
  return answer;
}

/** Jobs of the peer's tables that are not done: graphile-worker deletes completed jobs, pg-boss marks them. */
async function leftProblems(peer: Peer, url: string): Promise<string[]> {
  return withSql(url, async (sql) => {
    if (peer === 'graphile') {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM graphile_worker.jobs`;
      return row!.n === 0 ? [] : [`${row!.n} job row(s) left (graphile-worker deletes completed jobs)`];
    }
    const [row] = await sql<{ n: number; done: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'completed')::int AS done FROM pgboss.job WHERE name = 'noop'`;
    return row!.n === row!.done ? [] : [`${row!.n - row!.done} of ${row!.n} pg-boss job(s) not completed`];
  });
}

/** A variant of a peer's W1 drain (W8's pg-boss halves): the jobs' groups, the worker's settings, what watches it. */
export interface PeerDrainVariant {
  workload: string;
  system: string;
  database: string;
  /** Job i in group k<block> of this many blocks (pg-boss). */
  groups?: number;
  env?: Record<string, string>;
  /** Started before the worker, stopped once it drained; its problems join the run's checks. */
  watch?: (db: BenchDatabase) => DrainWatch;
  drainMs?: number;
}

/** W1 for a peer: n no-op jobs created in one call, then one worker process of CONCURRENCY slots. */
export async function peerDrain(peer: Peer, run: number, v?: PeerDrainVariant): Promise<WatchedDrainResult | null> {
  const n = SIZES.w1Jobs;
  return withDatabase(v?.database ?? `bench_w1_${peer}_r${run}`, 'peer', async (db) => {
    let creator: BenchChild | undefined;
    let child: BenchChild | undefined;
    let watch: DrainWatch | undefined;
    try {
      creator = await peerCreator(peer, db);
      const created = await creatorCall(creator, { type: 'create-many', n, ...(v?.groups ? { groups: v.groups } : {}) }, 'created');
      const ids = created.ids as string[];
      await creator.stop();
      await pgssReset();
      const cpuBefore = await server().cpuTicks();
      watch = v?.watch?.(db);
      child = spawnWorker(peer, db, n, v?.env);
      const figures = await drainFigures(child, cpuBefore, db, run, v?.drainMs);
      const watched = await watch?.stop();
      watch = undefined;
      const problems = [...executionProblems(figures.report, ids), ...childProblems(child), ...(await leftProblems(peer, db.url)), ...(watched?.problems ?? [])];
      check(v?.workload ?? 'W1 throughput', v?.system ?? PEER_LABEL[peer], run, problems, `${n} jobs, each executed once; ${peer === 'graphile' ? 'no job row left' : 'every job completed'}`);
      return { ...drainResult(n, created.ms as number, figures), ...(figures.pgss ? { pgss: figures.pgss } : {}), ...(watched ? { watched: watched.figures } : {}) };
    } finally {
      await watch?.stop().catch(() => undefined);
      await creator?.stop(10_000);
      child?.kill();
    }
  });
}

/** Problems with the order in pg-boss's table: every dependency completed before its dependent started. */
async function flowOrderProblems(url: string, edges: [string, string][]): Promise<string[]> {
  const rows = await withSql(url, (sql) => sql<{ id: string; started: number | null; completed: number | null }[]>`
    SELECT id::text, extract(epoch FROM started_on)::float8 AS started, extract(epoch FROM completed_on)::float8 AS completed FROM pgboss.job WHERE name = 'noop'`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const early = edges.filter(([parent, child]) => {
    const p = byId.get(parent);
    const c = byId.get(child);
    return !p || !c || p.completed === null || c.started === null || c.started < p.completed;
  });
  return early.length ? [`${early.length} of ${edges.length} dependent job(s) started before a dependency completed`] : [];
}

/** W3/W4 for pg-boss: the graph in one flow() call, then one worker process. */
export async function pgbossGraph(kind: 'chains' | 'fan-in', run: number): Promise<GraphResult | null> {
  const graph = buildGraph(kind);
  const workload = kind === 'chains' ? 'W3 chains' : 'W4 fan-in';
  return withDatabase(`bench_${kind === 'chains' ? 'w3' : 'w4'}_pgboss_r${run}`, 'peer', async (db) => {
    let creator: BenchChild | undefined;
    let child: BenchChild | undefined;
    try {
      creator = await peerCreator('pgboss', db);
      const jobs = graph.map((j) => ({ ref: j.id!, ...(j.dependencies?.length ? { dependsOn: j.dependencies } : {}) }));
      const flowed = await creatorCall(creator, { type: 'flow', jobs }, 'flowed');
      await creator.stop();
      const refToId = flowed.ids as Record<string, string>;
      const ids = graph.map((j) => refToId[j.id!]!);
      const edges = graph.flatMap((j) => (j.dependencies ?? []).map((d): [string, string] => [refToId[d]!, refToId[j.id!]!]));
      child = spawnWorker('pgboss', db, graph.length);
      await child.next('ready', TIMEOUTS.ready);
      const drained = await child.next('drained', TIMEOUTS.drain);
      const report = await child.request({ type: 'report' }, 'report', 30_000);
      await child.stop();
      const problems = [...executionProblems(report, ids), ...childProblems(child), ...(await leftProblems('pgboss', db.url)), ...(await flowOrderProblems(db.url, edges))];
      check(workload, 'pg-boss', run, problems, `${graph.length} jobs each executed once, all ${edges.length} dependencies respected`);
      return {
        jobs: graph.length,
        createJobsPerSec: graph.length / ((flowed.ms as number) / 1000),
        seconds: drained.ms / 1000,
        jobsPerSec: graph.length / (drained.ms / 1000),
      };
    } finally {
      await creator?.stop(10_000);
      child?.kill();
    }
  });
}
