import type { Sql } from '../db/connection.js';
import type { JobProgress } from '../jobs/progress.js';
import type { SchemaNames } from './schema-names.js';

/** Which attempt reports: its job, its worker, its attempt number and step (`ctx.waitFor` starts attempts again at 1). */
export interface ProgressAttempt {
  jobId: string;
  workerId: string;
  attempt: number;
  step: number;
}

/**
 * Stores a running attempt's progress, guarded by its lease, attempt number and step: a worker
 * whose lease was taken back (a rescue, a cancel) or whose attempt is over changes nothing, even
 * when the same worker has claimed the job again since. Returns whether the row was written.
 */
export async function writeProgress(sql: Sql, t: SchemaNames, a: ProgressAttempt, progress: JobProgress): Promise<boolean> {
  const rows = await sql`
    UPDATE ${sql(t.jobs)} SET progress = ${JSON.stringify(progress)}::text::jsonb, updated_at = now()
     WHERE id = ${a.jobId} AND status = 'running' AND lease_owner = ${a.workerId} AND attempts = ${a.attempt} AND step = ${a.step}`;
  return rows.count === 1;
}
