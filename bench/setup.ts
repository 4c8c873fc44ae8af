/**
 * What every workload run stands on: the benchmark's server, a fresh migrated database per run,
 * and the worker processes (and the peers' creators), all on the one child Node (CHILD_NODE).
 */
import path from 'node:path';
import { JobManager, runMigrations } from '../dist/index.js';
import { BenchChild } from './lib/child.js';
import { freshDatabase, startServer, withSql, type BenchDatabase, type BenchServer } from './lib/server.js';
import { withTimeout } from './lib/time.js';
import { CHILD_NODE, CHILDREN, CONCURRENCY, log, PGSS, ROOT, TIMEOUTS } from './config.js';

let current: BenchServer | undefined;

/** The running server; workloads run only between startBenchServer() and stopBenchServer(). */
export function server(): BenchServer {
  if (!current) throw new Error('the benchmark server is not running');
  return current;
}

export async function startBenchServer(): Promise<BenchServer> {
  // BENCH_PGSS_NESTED=1 also records the statements inside functions (the limited claim's parts).
  const track = process.env.BENCH_PGSS_NESTED === '1' ? { 'pg_stat_statements.track': 'all' } : {};
  current = await startServer({ log, ...(PGSS ? { settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.max': '1000', ...track } } : {}) });
  if (PGSS) await current.admin`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  return current;
}

/** Stops the server if it runs. */
export async function stopBenchServer(): Promise<void> {
  await current?.stop();
  current = undefined;
}

const CHILD_SCRIPTS = { taiat: 'taiat-worker.mjs', graphile: 'graphile-worker.mjs', pgboss: 'pg-boss.mjs', floor: 'latency-floor.mjs', creator: 'peer-creator.mjs' } as const;
export type Peer = 'graphile' | 'pgboss';

export function spawnWorker(system: keyof typeof CHILD_SCRIPTS, db: BenchDatabase, expect: number, env: Record<string, string> = {}): BenchChild {
  const script = path.join(CHILDREN, CHILD_SCRIPTS[system]);
  return new BenchChild(`${system === 'creator' ? `${env.BENCH_SYSTEM} creator` : `${system} worker`} (${db.name})`, script, {
    BENCH_DATABASE_URL: db.url,
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_EXPECT: String(expect),
    BENCH_DRAIN_TIMEOUT_MS: String(TIMEOUTS.drain),
    BENCH_CHILD_LIFETIME_MS: String(TIMEOUTS.drain + 5 * 60_000),
    TAIAT_DATABASE_URL: '',
    DATABASE_URL: '',
    ...env,
  }, ROOT, CHILD_NODE?.path);
}

/** BENCH_HISTORY_PARTITION=day|week|month: every taiat run on a partitioned history (docs/scaling.md). */
const HISTORY_PARTITION = process.env.BENCH_HISTORY_PARTITION as 'day' | 'week' | 'month' | undefined;

/**
 * Partitions the fresh database's history, with the partitions a week's retention leaves (7 past
 * periods, today's, 3 ahead), so lookups by job id probe as many as they would in production.
 */
async function partitionedHistory(url: string, period: 'day' | 'week' | 'month'): Promise<void> {
  const partition = async () => {
    const jobs = await JobManager.connect({ databaseUrl: url });
    try {
      await jobs.partitionHistory({ period });
    } finally {
      await jobs.close();
    }
  };
  await partition();
  // The former table (empty here) goes; rows of 7 past periods land in the default partition and
  // the second call splits them out into partitions of their own; then they go.
  await withSql(url, (sql) => sql`DROP TABLE taiat_job_history_unpartitioned`);
  await withSql(url, (sql) => sql`
    INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at)
    SELECT 'past-' || g, 'past-' || g, 'x', 'x', 'completed', now() - ${`${period === 'day' ? 1 : period === 'week' ? 7 : 30} days`}::interval * g
      FROM generate_series(1, 7) g`);
  await partition();
  await withSql(url, (sql) => sql`DELETE FROM taiat_job_history WHERE job_id LIKE 'past-%'`);
  const [n] = await withSql(url, (sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'taiat_job_history'::regclass`);
  log(`history partitioned by ${period}: ${n!.n} partitions`);
}

/**
 * A peer's creator: a child on the child Node that holds the peer's client (graphile-worker's
 * utilities, a pg-boss instance), installs its schema in the run's database, and creates jobs on
 * request, timing the calls itself (see children/peer-creator.mjs).
 */
export async function peerCreator(peer: Peer, db: BenchDatabase): Promise<BenchChild> {
  const child = spawnWorker('creator', db, 0, { BENCH_SYSTEM: peer });
  try {
    await child.next('ready', TIMEOUTS.ready);
    return child;
  } catch (error) {
    child.kill();
    throw error;
  }
}

/** Runs `fn` with a fresh database, always dropping it afterwards (a peer's creator installs its schema). */
export async function withDatabase<T>(name: string, system: 'taiat' | 'peer' | 'ceiling', fn: (db: BenchDatabase) => Promise<T>): Promise<T> {
  const db = await freshDatabase(server(), name);
  try {
    if (system === 'taiat') {
      await withTimeout(runMigrations(db.url), 120_000, 'taiat migrations');
      if (HISTORY_PARTITION) await partitionedHistory(db.url, HISTORY_PARTITION);
    }
    return await fn(db);
  } finally {
    await db.drop().catch((e: unknown) => log(`could not drop ${name}: ${e}`));
  }
}
