import { jsonParam, type Tx } from '../db/connection.js';
import { DuplicateJobIdError } from '../errors.js';
import { checkGraph } from '../jobs/graph.js';
import type { Job } from '../jobs/model.js';
import type { ValidatedJob } from '../jobs/validation.js';
import { resolveExternalDependencies } from './dependencies.js';
import { notifyReady } from './notify.js';

export interface InsertOptions {
  /** Set on jobs created from inside an executor. */
  parentId?: string | null;
}

/**
 * Inserts a validated graph of jobs inside the caller's transaction, set-based (a fixed number of
 * statements whatever the number of jobs). Dependencies inside the call count as unfinished;
 * outside it, a live dependency (pending, running) counts as unfinished and is marked as having
 * dependents, a completed one is satisfied, a failed or cancelled one is rejected, and an unknown
 * one is rejected. Throws (the caller's transaction then rolls back) on any of these.
 */
export async function insertJobs(tx: Tx, jobs: ValidatedJob[], options: InsertOptions = {}): Promise<Job[]> {
  if (jobs.length === 0) return [];
  checkGraph(jobs);

  const inCall = new Set(jobs.map((j) => j.id));
  const external = jobs.flatMap((j) => j.dependencies.filter((d) => !inCall.has(d)));
  const unfinished = await resolveExternalDependencies(tx, external, (ids) =>
    jobs.filter((j) => j.dependencies.some((d) => ids.includes(d))).map((j) => j.id),
  );
  for (const id of inCall) unfinished.add(id);

  const chosen = jobs.filter((j) => j.idChosen).map((j) => j.id);
  if (chosen.length > 0) {
    const taken = await tx<{ job_id: string }[]>`
      SELECT job_id FROM taiat_job_history WHERE job_id = ANY(${chosen}::text[])`;
    if (taken.length > 0) throw new DuplicateJobIdError(taken.map((t) => t.job_id));
  }

  const dependedOn = new Set(jobs.flatMap((j) => j.dependencies));
  const rows = jobs.map((j) => ({
    id: j.id,
    job_type: j.jobType,
    name: j.name,
    description: j.description,
    payload: j.payload,
    dependencies: j.dependencies,
    priority: j.priority,
    max_retries: j.maxRetries,
    queue: j.queue,
    run_at: j.runAt?.toISOString() ?? null,
    timeout_seconds: j.timeoutSeconds,
    retry_delay_seconds: j.retryDelaySeconds,
    pending_dependencies: j.dependencies.filter((d) => unfinished.has(d)).length,
    has_dependents: dependedOn.has(j.id),
    parent_id: options.parentId ?? null,
  }));
  const inserted = await tx<{ id: string; created_at: Date; run_at: Date }[]>`
    INSERT INTO taiat_jobs (id, job_type, name, description, payload, dependencies, priority, max_retries,
                            queue, run_at, timeout_seconds, retry_delay_seconds, pending_dependencies,
                            has_dependents, parent_id)
    SELECT id, job_type, name, description, payload, dependencies, priority, max_retries, queue,
           coalesce(run_at, now()), timeout_seconds, retry_delay_seconds, pending_dependencies,
           has_dependents, parent_id
      FROM jsonb_to_recordset(${jsonParam(tx, rows)}::jsonb) AS x(
             id text, job_type text, name text, description text, payload jsonb, dependencies jsonb,
             priority int, max_retries int, queue text, run_at timestamptz, timeout_seconds float8,
             retry_delay_seconds float8, pending_dependencies int, has_dependents bool, parent_id text)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, created_at, run_at`;
  if (inserted.length < jobs.length) {
    const got = new Set(inserted.map((r) => r.id));
    throw new DuplicateJobIdError(jobs.filter((j) => !got.has(j.id)).map((j) => j.id));
  }

  const now = Date.now();
  await notifyReady(
    tx,
    rows.filter((r, i) => r.pending_dependencies === 0 && (jobs[i]!.runAt?.getTime() ?? 0) <= now).map((r) => r.queue),
  );
  // The jobs are built from what was inserted rather than read back: returning every column of
  // 20,000 rows cost more than the insert (measured by the benchmark). RETURNING does not keep
  // the input order; callers expect it.
  const byId = new Map(inserted.map((r) => [r.id, r]));
  const parentId = options.parentId ?? null;
  return jobs.map((j) => {
    const { created_at: createdAt, run_at: runAt } = byId.get(j.id)!;
    return {
      id: j.id, jobType: j.jobType, name: j.name, description: j.description, payload: j.payload,
      dependencies: j.dependencies, status: 'pending', priority: j.priority, queue: j.queue,
      maxRetries: j.maxRetries, retryCount: 0, attempts: 0, errorMessage: null, result: null, runAt,
      startedAt: null, completedAt: null, durationSeconds: null, createdAt, updatedAt: createdAt,
      workerId: null, leaseExpiresAt: null, timeoutSeconds: j.timeoutSeconds, retryDelaySeconds: j.retryDelaySeconds,
      parentId, step: 0, causeJobId: null, attemptErrors: [], location: 'live',
    } satisfies Job;
  });
}
