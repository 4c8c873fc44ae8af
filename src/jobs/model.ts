import type { JobProgress } from './progress.js';
/** Any value that survives JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
/** `pending` and `running` jobs live in `taiat_jobs`; the others are finished, in history. */
export type JobStatus = (typeof JOB_STATUSES)[number];
export const LIVE_STATUSES = ['pending', 'running'] as const satisfies readonly JobStatus[];
export const FINISHED_STATUSES = ['completed', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

/**
 * Job types the worker runs without a custom executor. Any other non-empty type name is accepted
 * and runs on a custom executor (the original's `query` jobs are one: see docs/api.md).
 */
export const BUILTIN_JOB_TYPES = ['agent'] as const;

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
  /** The job's unique key (`NewJob.uniqueKey`), if it has one. */
  uniqueKey: string | null;
  /** The schedule whose tick created the job, and that tick. */
  scheduleId: string | null;
  scheduleTick: Date | null;
  /** The job's concurrency key (`NewJob.concurrencyKey`), if it has one: its queue's key limits apply to it. */
  concurrencyKey: string | null;
  /**
   * The W3C `traceparent` of the span the job was created in, when tracing was on; once the job
   * finished, that of its last attempt (its dependents' attempts link to it).
   */
  traceContext: string | null;
  /** The last progress an attempt reported (`ctx.progress`); cleared when the job goes back to pending for a retry. */
  progress: JobProgress | null;
  /**
   * Set by `createJob(s)` only: true when no job was created because a job holding the same
   * unique key exists; this is that job (updated, in the `replace` mode).
   */
  deduplicated?: boolean;
}
