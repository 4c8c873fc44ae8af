import type { Connection } from '../db/connection.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Deletes history rows that finished more than `days` days ago, `batchSize` rows per statement
 * (each its own short transaction, so nothing waits long on it). Returns the number deleted.
 */
export async function pruneHistory(
  conn: Connection, t: SchemaNames,
  days: number,
  batchSize: number,
  onProgress: (deleted: number) => void = () => {},
): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await conn.sql`
      DELETE FROM ${conn.sql(t.history)} WHERE id IN (
        SELECT id FROM ${conn.sql(t.history)}
         WHERE completed_at < now() - make_interval(secs => ${days * 86400}::float8)
         LIMIT ${batchSize})`;
    total += result.count;
    onProgress(total);
    if (result.count < batchSize) return total;
  }
}

/**
 * `pruneHistory`, unless another process is pruning: workers prune on a timer, and one at a time
 * is enough. Each batch takes a transaction-level advisory lock, tried, not waited for, in the
 * statement that deletes (no connection is held between batches); a batch that does not get it
 * ends the run. Returns the rows deleted, or null when another process held the lock at the start.
 */
export async function pruneHistoryUnlessBusy(conn: Connection, t: SchemaNames, days: number, batchSize = 5_000): Promise<number | null> {
  let total = 0;
  for (let batch = 0; ; batch++) {
    const [row] = await conn.sql<{ locked: boolean; n: number }[]>`
      WITH lock AS (SELECT pg_try_advisory_xact_lock(${t.lockKey('prune')}::bigint) AS locked),
      deleted AS (
        DELETE FROM ${conn.sql(t.history)} WHERE (SELECT locked FROM lock) AND id IN (
          SELECT id FROM ${conn.sql(t.history)}
           WHERE completed_at < now() - make_interval(secs => ${days * 86400}::float8)
           LIMIT ${batchSize})
        RETURNING 1)
      SELECT (SELECT locked FROM lock) AS locked, (SELECT count(*)::int FROM deleted) AS n`;
    if (!row!.locked) return batch === 0 ? null : total;
    total += row!.n;
    if (row!.n < batchSize) return total;
  }
}
