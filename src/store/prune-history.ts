import type { Connection } from '../db/connection.js';
import { advisoryLockKey } from './locks.js';

/**
 * Deletes history rows that finished more than `days` days ago, `batchSize` rows per statement
 * (each its own short transaction, so nothing waits long on it). Returns the number deleted.
 */
export async function pruneHistory(
  conn: Connection,
  days: number,
  batchSize: number,
  onProgress: (deleted: number) => void = () => {},
): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await conn.sql`
      DELETE FROM taiat_job_history WHERE id IN (
        SELECT id FROM taiat_job_history
         WHERE completed_at < now() - make_interval(secs => ${days * 86400}::float8)
         LIMIT ${batchSize})`;
    total += result.count;
    onProgress(total);
    if (result.count < batchSize) return total;
  }
}

/**
 * `pruneHistory`, unless another process is pruning (an advisory lock, tried, not waited for):
 * workers prune on a timer, and one at a time is enough. Returns the rows deleted, or null when
 * another held the lock.
 */
export async function pruneHistoryUnlessBusy(conn: Connection, days: number, batchSize = 5_000): Promise<number | null> {
  const reserved = await conn.sql.reserve();
  try {
    const [row] = await reserved<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${advisoryLockKey('prune')}::bigint) AS locked`;
    if (!row?.locked) return null;
    try {
      return await pruneHistory(conn, days, batchSize);
    } finally {
      await reserved`SELECT pg_advisory_unlock(${advisoryLockKey('prune')}::bigint)`;
    }
  } finally {
    reserved.release();
  }
}
