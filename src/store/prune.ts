import type { Connection } from '../db/connection.js';

/**
 * Deletes history rows that finished more than `days` days ago, `batchSize` rows per statement
 * (each its own short transaction, so nothing waits long on it). Returns the number deleted.
 */
export async function deleteHistoryOlderThan(
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
