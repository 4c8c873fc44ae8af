import type { Sql } from '../db/connection.js';
import type { AllJobsView } from '../db/schema.js';
import { jobFromRow, type Job, type JsonValue } from '../jobs/model.js';
import { liveJobColumns } from '../store/columns.js';

const CLAIMED_COLUMNS = liveJobColumns('j');

/**
 * Claims up to `limit` ready jobs in one statement: the ready-jobs index in claim order
 * (priority, run_at, id), `FOR UPDATE SKIP LOCKED` so concurrent workers never wait for or take
 * the same row, and the update to running under this worker's lease, counting the attempt.
 */
export async function claimJobs(sql: Sql, workerId: string, queues: string[], limit: number, leaseSeconds: number): Promise<Job[]> {
  // One queue keeps the index scan ordered (no sort); `= ANY` over several queues needs a sort.
  const queueFilter = queues.length === 1 ? sql`queue = ${queues[0]!}` : sql`queue = ANY(${queues}::text[])`;
  const rows = await sql<AllJobsView[]>`
    WITH ready AS (
      SELECT id FROM taiat_jobs
       WHERE status = 'pending' AND pending_dependencies = 0 AND ${queueFilter} AND run_at <= now()
       ORDER BY priority DESC, run_at, id
       LIMIT ${limit}
       FOR UPDATE SKIP LOCKED
    )
    UPDATE taiat_jobs j
       SET status = 'running', lease_owner = ${workerId},
           lease_expires_at = now() + make_interval(secs => ${leaseSeconds}::float8),
           attempts = j.attempts + 1, started_at = now(), updated_at = now(), cancel_requested_at = NULL
      FROM ready WHERE j.id = ready.id
    RETURNING ${sql.unsafe(CLAIMED_COLUMNS)}`;
  return rows.map(jobFromRow);
}

/** Results of completed dependencies of the given jobs, keyed by dependency id. */
export async function dependencyResults(sql: Sql, jobs: Job[]): Promise<Map<string, { name: string; result: JsonValue | null }>> {
  const ids = [...new Set(jobs.flatMap((j) => j.dependencies))];
  if (ids.length === 0) return new Map();
  const rows = await sql<{ job_id: string; name: string; result: JsonValue | null }[]>`
    SELECT job_id, name, result FROM taiat_job_history WHERE job_id = ANY(${ids}::text[]) AND status = 'completed'`;
  return new Map(rows.map((r) => [r.job_id, { name: r.name, result: r.result }]));
}
