import type { Sql } from '../db/connection.js';
import type { JobProgress } from '../jobs/progress.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Stores a running attempt's progress, guarded by its lease and its attempt number: a worker
 * whose lease was taken back (a rescue, a cancel) or whose attempt is over changes nothing.
 * Returns whether the row was written.
 */
export async function writeProgress(sql: Sql, t: SchemaNames, jobId: string, workerId: string, attempt: number, progress: JobProgress): Promise<boolean> {
  const rows = await sql`
    UPDATE ${sql(t.jobs)} SET progress = ${JSON.stringify(progress)}::text::jsonb, updated_at = now()
     WHERE id = ${jobId} AND status = 'running' AND lease_owner = ${workerId} AND attempts = ${attempt}`;
  return rows.count === 1;
}
