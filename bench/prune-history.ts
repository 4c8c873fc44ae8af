/**
 * Pruning a big history, plain (batched DELETE) and partitioned (dropped partitions), and the
 * conversion of the plain table with its rows (issue 22). Rows are made set-based, not by a worker:
 * `--rows` jobs finished one every `--spacing-ms`, ending now; a prune keeps `--days`.
 *
 *   npx tsx bench/prune-history.ts --rows 10000000 --days 7
 *
 * On TAIAT_BENCH_DATABASE_URL's server if set, else on an embedded one of its own (default settings).
 */
import { parseArgs } from 'node:util';
import { openConnection } from '../src/db/connection.js';
import { ensureHistoryPartitions, partitionHistory, pruneHistory, readHistoryPartitioning, runMigrations, schemaNames } from '../src/store/index.js';
import { freshDatabase, startServer } from './lib/server.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' }, days: { type: 'string', default: '7' }, period: { type: 'string', default: 'day' },
    'skip-convert': { type: 'boolean', default: false }, 'old-seconds': { type: 'string', default: '60' },
  },
});
const rows = Number(values.rows);
const days = Number(values.days);
const period = values.period as 'day';
// Rows spread over twice the retention: half of them are pruned.
const spacingMs = (2 * days * 86_400_000) / rows;
const log = (line: string) => process.stderr.write(`${line}\n`);
const t = schemaNames();

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const value = await fn();
  log(`${what}: ${((performance.now() - start) / 1000).toFixed(2)} s`);
  return value;
}

// Numbers only, from this script: no input reaches the text.
const INSERT = `
  INSERT INTO taiat_job_history (id, job_id, job_type, name, payload, status, result, started_at, completed_at,
                                 duration_seconds, created_at, queue, attempts, worker_id)
  SELECT 'job-' || g, 'job-' || g, 'bench', 'step-' || (g % 50), jsonb_build_object('n', g), 'completed',
         jsonb_build_object('ok', true), c - interval '1 second', c, 1, c - interval '2 seconds', 'default', 1, 'w1'
    FROM generate_series(1, ${rows}) g, LATERAL (SELECT now() - g * ${spacingMs} * interval '1 millisecond' AS c) x`;

async function filledDatabase(server: Awaited<ReturnType<typeof startServer>>, name: string) {
  const db = await freshDatabase(server, name);
  await runMigrations(db.url);
  const conn = openConnection(db.url, { max: 4 });
  await timed(`insert ${rows} rows`, () => conn.sql`${conn.sql.unsafe(INSERT)}`);
  await timed('vacuum analyze', () => conn.sql`VACUUM ANALYZE taiat_job_history`);
  return { db, conn };
}

/** The longest a lookup by job id waited while `fn` ran (polled every 20 ms on its own connection). */
async function longestLookupDuring<T>(url: string, fn: () => Promise<T>): Promise<{ value: T; longestMs: number }> {
  const probe = openConnection(url, { max: 1 });
  let running = true;
  let longestMs = 0;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      await probe.sql`SELECT 1 FROM taiat_job_history WHERE job_id = 'job-1'`;
      longestMs = Math.max(longestMs, performance.now() - start);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    return { value: await fn(), longestMs };
  } finally {
    running = false;
    await loop;
    await probe.close();
  }
}

const server = await startServer({ log });
try {
  if (!values['skip-convert']) {
    const { db, conn } = await filledDatabase(server, 'prune_convert');
    const { value, longestMs } = await longestLookupDuring(db.url, () => timed(`partition a history of ${rows} rows by ${period}`, () => partitionHistory(conn.sql, t, period)));
    log(`  ${JSON.stringify(value)}; longest lookup by job id meanwhile: ${longestMs.toFixed(0)} ms`);
    const [n] = await conn.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_all_jobs`;
    log(`  rows through the audit view after: ${n!.n}`);
    await conn.close();
    await db.drop();
  }
  {
    const { db, conn } = await filledDatabase(server, 'prune_plain');
    // The batch statement before this change deleted by id, which has no index since 000002: each
    // batch read the whole table. Run for a while, its rate extrapolated to the whole prune.
    const start = performance.now();
    let old = 0;
    while (performance.now() - start < Number(values['old-seconds']) * 1000) {
      const r = await conn.sql`DELETE FROM taiat_job_history WHERE id IN (
        SELECT id FROM taiat_job_history WHERE completed_at < now() - make_interval(secs => ${days * 86400}::float8) LIMIT 5000)`;
      old += r.count;
      if (r.count < 5000) break;
    }
    const oldSeconds = (performance.now() - start) / 1000;
    log(`prune by id (the statement before): ${old} rows in ${oldSeconds.toFixed(1)} s, ${(old / oldSeconds).toFixed(0)} rows/s; ${rows / 2} rows would take ${((rows / 2) / (old / oldSeconds)).toFixed(0)} s`);
    const deleted = await timed('prune, plain history (batched DELETE by job_id), the rest', () => pruneHistory(conn, t, days, 5_000));
    log(`  deleted ${deleted} (after ${old} by id)`);
    await conn.close();
    await db.drop();
  }
  {
    const db = await freshDatabase(server, 'prune_partitioned');
    await runMigrations(db.url);
    const conn = openConnection(db.url, { max: 4 });
    await partitionHistory(conn.sql, t, period);
    // Period partitions for the whole range: the (empty) former table goes, one row per past
    // period lands in the default partition, and maintenance splits them out into partitions.
    await conn.sql`DROP TABLE taiat_job_history_unpartitioned`;
    await conn.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at)
                   SELECT 'x' || g, 'x' || g, 'x', 'x', 'completed', now() - g * interval '1 day' FROM generate_series(0, ${2 * days + 1}) g`;
    await timed('split the default partition into period partitions', () => ensureHistoryPartitions(conn.sql, t));
    await conn.sql`TRUNCATE taiat_job_history`;
    await timed(`insert ${rows} rows into partitions`, () => conn.sql`${conn.sql.unsafe(INSERT)}`);
    await timed('vacuum analyze', () => conn.sql`VACUUM ANALYZE taiat_job_history`);
    log(`  ${(await readHistoryPartitioning(conn.sql, t))!.partitions.length} partitions`);
    const removed = await timed('prune, partitioned history (dropped partitions)', () => pruneHistory(conn, t, days, 5_000));
    log(`  removed ${removed}; ${(await readHistoryPartitioning(conn.sql, t))!.partitions.length} partitions left`);
    await conn.close();
    await db.drop();
  }
} finally {
  await server.stop();
}
