import type { AllJobsView, JsonObject, JsonValue } from '../db/schema.js';

export type { JsonObject, JsonValue } from '../db/schema.js';

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
/** `pending` and `running` jobs live in `taiat_jobs`; the others are finished, in history. */
export type JobStatus = (typeof JOB_STATUSES)[number];
export const LIVE_STATUSES = ['pending', 'running'] as const satisfies readonly JobStatus[];
export const FINISHED_STATUSES = ['completed', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

/** Built-in job types; any other non-empty type name is accepted for custom executors. */
export const BUILTIN_JOB_TYPES = ['query', 'agent'] as const;

/** Named priorities (the original's values): higher runs first. Any integer is accepted too. */
export const PRIORITIES = { low: 1, normal: 2, high: 3, urgent: 4 } as const;
export type PriorityName = keyof typeof PRIORITIES;

/** One failed attempt of a job. */
export interface AttemptError {
  attempt: number;
  error: string;
  at: Date;
  workerId: string | null;
}

/** A job, live (`pending`, `running`) or finished (in history). */
export interface Job {
  id: string;
  jobType: string;
  name: string;
  description: string | null;
  payload: JsonObject;
  /** Ids of the jobs this one waits for. */
  dependencies: string[];
  status: JobStatus;
  /** Higher runs first. */
  priority: number;
  queue: string;
  maxRetries: number;
  /** Failed attempts that were retried. */
  retryCount: number;
  /** Attempts started (claims). */
  attempts: number;
  errorMessage: string | null;
  result: JsonValue | null;
  /** Not run before this time. */
  runAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  /** Run time of the last attempt, for finished jobs that ran. */
  durationSeconds: number | null;
  createdAt: Date;
  updatedAt: Date;
  /** The worker running the job (running), or the one that ran it last (finished). */
  workerId: string | null;
  leaseExpiresAt: Date | null;
  timeoutSeconds: number | null;
  retryDelaySeconds: number | null;
  /** The job that created this one from inside its executor, if any. */
  parentId: string | null;
  /** How many times the job has resumed after waiting for jobs it created. */
  step: number;
  /** For a job cancelled because a dependency failed or was cancelled: that dependency. */
  causeJobId: string | null;
  attemptErrors: AttemptError[];
  /** `live` (in `taiat_jobs`) or `history` (in `taiat_job_history`). */
  location: 'live' | 'history';
}

/** Maps a row of the `taiat_all_jobs` view (or the same columns) to a `Job`. */
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
  };
}

/** The `attempt_errors` column as `AttemptError`s. */
export function attemptErrorsFromRow(rows: AllJobsView['attempt_errors']): AttemptError[] {
  return rows.map((e) => ({ attempt: e.attempt, error: e.error, at: new Date(e.at), workerId: e.worker_id }));
}
