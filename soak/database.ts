/**
 * The Postgres the soak runs against (an embedded cluster of its own, or TAIAT_SOAK_DATABASE_URL),
 * the driver's connections to it, and the driver's bounded JobManager calls.
 */
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type postgres from 'postgres';
import { JobManager, runMigrations } from '../dist/index.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../dist/db/embedded.js';
import { openConnection } from '../dist/db/connection.js';
import { newClusterDir } from '../bench/lib/cluster-dir.js';
import { clockOffset, TimeoutError } from '../bench/lib/time.js';
import { log, setClockOffset, withTimeout } from './clock.js';
import { CALL_TIMEOUT_MS, EXTERNAL_URL, KEY_LIMIT, KEYED_QUEUE, PG_LOG, QUEUES } from './config.js';
import { describe, isUnexpectedDbError, untilReachable } from './db-errors.js';
import { SOAK_TABLES } from './records.js';
import { finding, lastFault, run } from './state.js';

const SERVER_SETTINGS: Record<string, string> = {
  max_connections: '200',
  ...(PG_LOG ? { log_statement: 'all', log_min_duration_statement: '0', wal_keep_size: '4GB', log_line_prefix: `'%m [%p] %a xid=%x vxid=%v '` } : {}),
};

/** The server (embedded only), its folder, and the driver's connections. */
export const db = {
  server: undefined as EmbeddedPostgres | undefined,
  dir: undefined as string | undefined,
  url: '',
  admin: undefined as postgres.Sql | undefined,
  jobs: undefined as JobManager | undefined,
};
// Managers replaced after a hung call; kept referenced, never used again.
const abandonedManagers: JobManager[] = [];

/** Starts (or starts again) the embedded server in `dir`. */
export function startEmbedded(dir: string): Promise<EmbeddedPostgres> {
  // Default durability (fsync, synchronous_commit, full_page_writes as shipped); room for the
  // connections of workers that overlap while one shuts down and its replacement starts.
  return startEmbeddedPostgres({ dir, database: 'soak', settings: SERVER_SETTINGS });
}

/** The server up, migrated, the soak's tables fresh, the driver connected. */
export async function openDatabase(): Promise<void> {
  if (EXTERNAL_URL) {
    db.url = EXTERNAL_URL;
    log('using TAIAT_SOAK_DATABASE_URL: Postgres restarts are skipped (only an embedded server can be restarted)');
  } else {
    db.dir = await newClusterDir({ prefix: 'taiat-soak-pg-', ownerFile: 'soak-owner.pid', owner: 'soak', log });
    db.server = await startEmbedded(db.dir);
    db.url = db.server.url;
    log(`embedded Postgres in ${db.dir}`);
  }
  await runMigrations(db.url);
  // taiat's pool: it fetches the driver's types once, so a reconnect during the chaos cannot end
  // the driver with the driver's unhandled rejection (db/connection.ts).
  const admin = openConnection(db.url, { max: 4, connectTimeout: 10, applicationName: 'soak driver' }).sql;
  db.admin = admin;
  if (EXTERNAL_URL) {
    const { offsetMs } = await clockOffset(7, async () => {
      const [row] = await admin<{ ms: string }[]>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::text AS ms`;
      return Number(row!.ms);
    });
    setClockOffset(offsetMs);
    log(`clock offset to the server: ${offsetMs.toFixed(2)} ms`);
  }
  await admin.unsafe(SOAK_TABLES);
  const [busy] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = ANY(${QUEUES})`;
  if (busy!.n > 0) throw new Error(`the database already holds ${busy!.n} live jobs on the queues ${QUEUES.join(', ')}; use a database of its own`);
  db.jobs = await JobManager.connect({ databaseUrl: db.url, maxConnections: 4 });
  await db.jobs.setQueueLimits(KEYED_QUEUE, { keyConcurrency: KEY_LIMIT });
}

/** Closes the driver's connections and stops the embedded server; its folder stays with `keep`. */
export async function closeDatabase(keep: boolean): Promise<void> {
  // Bounded: JobManager.close() can hang after Postgres restarts (see findings).
  await withTimeout(db.jobs?.close() ?? Promise.resolve(), 10_000, 'JobManager.close()').catch(() => {});
  await withTimeout(db.admin?.end({ timeout: 2 }) ?? Promise.resolve(), 10_000, 'closing the driver pool').catch(() => {});
  if (db.server && db.dir) {
    await withTimeout(db.server.stop(), 60_000, 'stopping Postgres').catch((e: unknown) => log(`could not stop Postgres: ${describe(e)}`));
    if (run.dir) await copyFile(path.join(db.dir, 'postgres.log'), path.join(run.dir, 'postgres.log')).catch(() => {});
    if (!keep) await rm(db.dir, { recursive: true, force: true }).catch(() => {});
    else log(`kept the cluster in ${db.dir}`);
  }
}

/**
 * A bounded JobManager call. A call that does not settle within 30 s is a finding (postgres.js
 * 3.4.9 can leave a transaction's query pending forever after its connection closed); the
 * manager is then replaced by a fresh one so that the soak goes on, and the call counts as failed.
 */
export async function managerCall<T>(what: string, fn: (m: JobManager) => Promise<T>): Promise<T> {
  const m = db.jobs!;
  try {
    return await withTimeout(fn(m), CALL_TIMEOUT_MS, what);
  } catch (error) {
    if (error instanceof TimeoutError) {
      finding('jobmanager-call-hang', `${what} neither resolved nor rejected within ${CALL_TIMEOUT_MS / 1000} s (last fault: ${lastFault()})`);
      if (db.jobs === m) {
        abandonedManagers.push(m);
        db.jobs = await untilReachable(() => JobManager.connect({ databaseUrl: db.url, maxConnections: 4 }), 'reconnecting the JobManager');
      }
    } else if (isUnexpectedDbError(error)) {
      finding(`jobmanager-db-error-${(error as { code: string }).code}`, `${what} failed with ${(error as { code: string }).code}: ${describe(error)} (last fault: ${lastFault()})`);
    }
    throw error;
  }
}
