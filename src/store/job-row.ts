import type { AllJobsView } from '../db/schema.js';
import type { AttemptError, Job } from '../jobs/model.js';
import type { JobProgress } from '../jobs/progress.js';
import type { ValidatedJob } from '../jobs/validation.js';

/** Maps a row of the `taiat_all_jobs` view (or the same columns, see fragments.ts) to a `Job`. */
export function jobFromRow(row: AllJobsView): Job {
  return {
    id: row.id,
    jobType: row.job_type,
    name: row.name,
    description: row.description,
    payload: row.payload,
    dependencies: row.dependencies,
    status: row.status,
    priority: row.priority,
    queue: row.queue,
    maxRetries: row.max_retries,
    retryCount: row.retry_count,
    attempts: row.attempts,
    errorMessage: row.error_message,
    result: row.result,
    runAt: row.run_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    durationSeconds: row.duration_seconds,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    workerId: row.worker_id,
    leaseExpiresAt: row.lease_expires_at,
    timeoutSeconds: row.timeout_seconds ?? null,
    retryDelaySeconds: row.retry_delay_seconds ?? null,
    parentId: row.parent_id,
    step: row.step,
    causeJobId: row.cause_job_id,
    attemptErrors: attemptErrorsFromRow(row.attempt_errors ?? []),
    location: row.location,
    uniqueKey: row.unique_key ?? null,
    scheduleId: row.schedule_id ?? null,
    scheduleTick: row.schedule_tick ?? null,
    concurrencyKey: row.concurrency_key ?? null,
    traceContext: row.trace_context ?? null,
    progress: (row.progress as JobProgress | null) ?? null,
  };
}

function attemptErrorsFromRow(rows: AllJobsView['attempt_errors']): AttemptError[] {
  return rows.map((e) => ({ attempt: e.attempt, error: e.error, at: new Date(e.at), workerId: e.worker_id }));
}

/**
 * A job as just created from its validated input, without reading it back: returning every
 * column of a large create cost more than the insert. `createdAt` is the transaction's now().
 */
export function jobFromCreated(j: ValidatedJob, createdAt: Date, parentId: string | null, traceContext: string | null = null): Job {
  return {
    id: j.id, jobType: j.jobType, name: j.name, description: j.description, payload: j.payload,
    dependencies: j.dependencies, status: 'pending', priority: j.priority, queue: j.queue,
    maxRetries: j.maxRetries, retryCount: 0, attempts: 0, errorMessage: null, result: null, runAt: j.runAt ?? createdAt,
    startedAt: null, completedAt: null, durationSeconds: null, createdAt, updatedAt: createdAt,
    workerId: null, leaseExpiresAt: null, timeoutSeconds: j.timeoutSeconds, retryDelaySeconds: j.retryDelaySeconds,
    parentId, step: 0, causeJobId: null, attemptErrors: [], location: 'live',
    uniqueKey: j.uniqueKey, scheduleId: j.scheduleId, scheduleTick: j.scheduleTick, concurrencyKey: j.concurrencyKey,
    traceContext, progress: null,
  };
}
