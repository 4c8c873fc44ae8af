import { jsonParam, type Tx } from '../db/connection.js';
import { InvalidStateError, JobNotFoundError } from '../errors.js';
import { resolveExternalDependencies } from './dependencies.js';
import { notifyReady } from './notify.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Moves a failed or cancelled job (and, with `dependents`, the jobs cancelled because of it) from
 * history back to `taiat_jobs` as pending, with retries reset. Their dependencies are checked
 * again as at creation: a dependency that failed must be retried first.
 */
export async function retryJob(tx: Tx, t: SchemaNames, jobId: string, dependents: boolean): Promise<void> {
  const [target] = await tx<{ status: string }[]>`
    SELECT status FROM ${tx(t.history)} WHERE job_id = ${jobId} FOR UPDATE`;
  if (!target) {
    const [live] = await tx<{ status: string }[]>`SELECT status FROM ${tx(t.jobs)} WHERE id = ${jobId}`;
    if (!live) throw new JobNotFoundError(jobId);
    throw new InvalidStateError(jobId, live.status, `job ${jobId} is ${live.status}; only failed or cancelled jobs can be retried`);
  }
  if (target.status === 'completed') {
    throw new InvalidStateError(jobId, 'completed', `job ${jobId} completed; only failed or cancelled jobs can be retried`);
  }
  const set = await tx<{ job_id: string; dependencies: string[] }[]>`
    SELECT job_id, dependencies FROM ${tx(t.history)}
     WHERE job_id = ${jobId} OR (${dependents} AND cause_job_id = ${jobId} AND status = 'cancelled')
     ORDER BY job_id FOR UPDATE`;
  const ids = new Set(set.map((r) => r.job_id));
  const external = set.flatMap((r) => r.dependencies.filter((d) => !ids.has(d)));
  const unfinished = await resolveExternalDependencies(tx, t, external, (deps) =>
    set.filter((r) => r.dependencies.some((d) => deps.includes(d))).map((r) => r.job_id),
  );
  for (const id of ids) unfinished.add(id);
  const pending = set.map((r) => ({
    id: r.job_id,
    pending_dependencies: r.dependencies.filter((d) => unfinished.has(d)).length,
    has_dependents: set.some((o) => o.dependencies.includes(r.job_id)),
  }));
  const back = await tx<{ queue: string; ready: boolean }[]>`
    WITH spec AS (
      SELECT * FROM jsonb_to_recordset(${jsonParam(tx, pending)}::jsonb)
             AS s(id text, pending_dependencies int, has_dependents bool)
    ), gone AS (
      DELETE FROM ${tx(t.history)} h USING spec s WHERE h.job_id = s.id
      RETURNING h.*, s.pending_dependencies AS pd, s.has_dependents AS hd
    )
    INSERT INTO ${tx(t.jobs)} (id, job_type, name, description, payload, dependencies, max_retries,
                            retry_count, status, created_at, updated_at, priority, queue, run_at,
                            pending_dependencies, has_dependents, attempts, timeout_seconds,
                            retry_delay_seconds, attempt_errors, parent_id, step, unique_key, unique_while,
                            schedule_id, schedule_tick, concurrency_key)
    -- Its unique key comes back as a record, not as a slot: a retry never takes a key another
    -- job holds by now.
    SELECT job_id, job_type, name, description, payload, dependencies, max_retries, 0, 'pending',
           created_at, now(), priority, queue, now(), pd, hd, 0, timeout_seconds,
           retry_delay_seconds, attempt_errors, parent_id, step, unique_key, unique_while,
           schedule_id, schedule_tick, concurrency_key
      FROM gone
    RETURNING queue, pending_dependencies = 0 AS ready`;
  await notifyReady(tx, t, back.filter((b) => b.ready).map((b) => b.queue));
}
