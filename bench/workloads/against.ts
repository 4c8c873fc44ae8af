/**
 * `--against <ref>`: W1's drain by this checkout's build and by another commit's, at the same
 * time, each from a database of its own on the one server. Run one after the other, two builds
 * meet different minutes of a shared machine, whose drift (the same build 13,600-19,300 jobs/s
 * within minutes) is larger than most changes; run together, both meet the same ones. What is
 * compared is each side's worker CPU per job, its statements' time per job on the server
 * (pg_stat_statements, per database) and its drain time; an A/A run (`--against HEAD`) shows
 * what the method itself leaves (the two drains share two cores, so neither is W1's figure).
 */
import { pathToFileURL } from 'node:url';
import type { BenchChild } from '../lib/child.js';
import type { BenchDatabase } from '../lib/server.js';
import { check, childProblems, executionProblems, taiatHistoryProblems } from '../checks.js';
import { HEAD_ENV, SIZES, TIMEOUTS } from '../config.js';
import { server, spawnWorker, withDatabase } from '../setup.js';
import { noopJobs } from './drain.js';

/** One side of a round: which build, and what its drain took. */
export interface SideResult {
  drainSeconds: number;
  workerCpuUsPerJob: number;
  statementsUsPerJob: number | null;
}

export interface AgainstRound {
  head: SideResult;
  ref: SideResult;
}

/** A build's entry point: its `dist/index.js`, or this checkout's (undefined). */
type Entry = string | undefined;

interface Library {
  runMigrations(url: string): Promise<unknown>;
  JobManager: { connect(options: { databaseUrl: string; maxConnections?: number }): Promise<{ createJobs(jobs: unknown[]): Promise<{ id: string }[]>; close(): Promise<void> }> };
}

async function library(entry: Entry): Promise<Library> {
  return (await import(entry ? pathToFileURL(entry).href : '../../dist/index.js')) as Library;
}

/** Migrates with the side's own build (the two may differ in schema) and creates W1's jobs. */
async function prepare(entry: Entry, db: BenchDatabase, n: number): Promise<string[]> {
  const lib = await library(entry);
  await lib.runMigrations(db.url);
  const jobs = await lib.JobManager.connect({ databaseUrl: db.url, maxConnections: 2 });
  try {
    return (await jobs.createJobs(noopJobs(n))).map((j) => j.id);
  } finally {
    await jobs.close();
  }
}

/** The statements' execution time of one database since the last reset, in ms. */
async function statementsMs(database: string): Promise<number | null> {
  const [row] = await server().admin<{ ms: number | null }[]>`
    SELECT sum(s.total_exec_time)::float8 AS ms FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ${database}`;
  return row?.ms ?? null;
}

/** One round: both builds' workers told to start together (who is told first alternates). */
export async function againstRound(refEntry: string, refLabel: string, run: number): Promise<AgainstRound | null> {
  const n = SIZES.w1Jobs;
  return withDatabase(`bench_against_head_r${run}`, 'peer', (headDb) => withDatabase(`bench_against_ref_r${run}`, 'peer', async (refDb) => {
    const sides = [{ key: 'head' as const, entry: undefined, db: headDb }, { key: 'ref' as const, entry: refEntry, db: refDb }];
    const ids = await Promise.all(sides.map((s) => prepare(s.entry, s.db, n)));
    const children: BenchChild[] = sides.map((s) => spawnWorker('taiat', s.db, n, { BENCH_START_ON_GO: '1', ...(s.entry ? { BENCH_TAIAT_DIST: s.entry } : HEAD_ENV) }));
    try {
      await Promise.all(children.map((c) => c.next('waiting', TIMEOUTS.ready)));
      await server().admin`SELECT pg_stat_statements_reset()`;
      const order = run % 2 === 0 ? [...children].reverse() : children;
      for (const c of order) c.send({ type: 'go' });
      const drained = await Promise.all(children.map((c) => c.next('drained', TIMEOUTS.drain)));
      const statements = await Promise.all(sides.map((s) => statementsMs(s.db.name)));
      const reports = await Promise.all(children.map((c) => c.request({ type: 'report' }, 'report', 30_000)));
      await Promise.all(children.map((c) => c.stop()));
      for (const [i, s] of sides.entries()) {
        const problems = [...executionProblems(reports[i]!, ids[i]!), ...childProblems(children[i]!), ...(await taiatHistoryProblems(s.db.url, ids[i]!))];
        check('W1 against', s.key === 'head' ? 'taiat (this checkout)' : `taiat (${refLabel})`, run, problems, `${n} jobs, each executed once, completed once in history`);
      }
      const side = (i: number): SideResult => ({
        drainSeconds: drained[i]!.ms / 1000,
        workerCpuUsPerJob: (drained[i]!.cpu.user + drained[i]!.cpu.system) / n,
        statementsUsPerJob: statements[i] === null ? null : (statements[i]! * 1000) / n,
      });
      return { head: side(0), ref: side(1) };
    } finally {
      for (const c of children) c.kill();
    }
  }));
}
