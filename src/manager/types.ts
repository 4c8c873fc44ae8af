import type { AgentPayloadCheck } from '../jobs/agent-jobs.js';
import type { FinishedStatus, JobStatus } from '../jobs/model.js';
import type { NewJob } from '../jobs/validation.js';
import type { AppTransaction, HistoryPartitionPeriod } from '../store/index.js';

export interface JobManagerOptions {
  /** Default: `TAIAT_DATABASE_URL`, then `DATABASE_URL`. */
  databaseUrl?: string;
  /** The schema of the taiat instance (default: `TAIAT_SCHEMA`, then `public`). */
  schema?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  /**
   * `databaseUrl` goes through a pooler in transaction mode (pgbouncer, pooled endpoints): no
   * prepared statements (default: `TAIAT_TRANSACTION_POOLING` is `1` or `true`).
   */
  transactionPooling?: boolean;
  /**
   * A read replica (a streaming standby) for pure reads: `getJob`, `listJobs`, `getReadyJobs`,
   * `getJobHistory`, `explain`, `listQueues`, `getQueue`, `listSchedules`, `getSchedule`. They may
   * be a moment behind the primary. Creates, cancels, retries and every check that decides a
   * write stay on `databaseUrl`, and so does the job a cancel or retry returns (default:
   * `TAIAT_READ_DATABASE_URL`; without either, reads share the one pool). See docs/scaling.md.
   */
  readDatabaseUrl?: string;
  /**
   * Each create runs in a span (`send <queue>`) of the caller's active trace, whose context is
   * stored with the jobs so that their attempts join that trace (`@opentelemetry/api`, an
   * optional peer dependency; default: `TAIAT_TRACING` is `1` or `true`). See docs/observability.md.
   */
  tracing?: boolean;
  /** Largest payload in bytes of JSON (default 1 MiB). */
  maxPayloadBytes?: number;
  /** Most dependencies per job (default 10,000). */
  maxDependencies?: number;
  /** Most jobs per `createJobs` call (default 100,000). */
  maxJobsPerCall?: number;
}

/**
 * A `NewJob`, checked against `AgentParameters` when it names a declared agent: `A` is inferred
 * from `payload.agent_name`.
 */
export type AgentJob<A extends string> = NewJob & { payload?: { agent_name?: A } } & AgentPayloadCheck<A>;

export interface CreateJobOptions {
  /**
   * A transaction of the application's, open on its own connection: the jobs commit with it, or
   * not at all, and wake workers only when it commits. A postgres.js `sql.begin()` handle, a
   * node-postgres client inside `BEGIN`, or a Kysely transaction. The jobs are durable when that
   * transaction commits (its own `synchronous_commit`).
   */
  tx?: AppTransaction;
}

export interface ListJobsOptions {
  /** Only jobs with this status (default: every status). */
  status?: JobStatus;
  /** Only pending jobs whose dependencies completed and whose `runAt` has come. */
  readyOnly?: boolean;
  queue?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
}

export interface ReadyJobsOptions {
  queue?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
}

export interface HistoryOptions {
  status?: FinishedStatus;
  /** Only jobs finished at or after this time. */
  since?: Date | string;
  /** Default 100, at most 10,000. */
  limit?: number;
}

export interface RetryOptions {
  /** Also bring back the jobs cancelled because this one failed, blocked on it again. */
  dependents?: boolean;
}

export interface PruneHistoryOptions {
  /** Delete history rows finished more than this many days ago. */
  days: number;
  /** Rows per delete statement (default 5,000), so claims never wait long on the pruning. */
  batchSize?: number;
  /** Called after each batch with the running total. */
  onProgress?: (deleted: number) => void;
}

export interface PartitionHistoryOptions {
  /** One partition of history per day, week or month of `completed_at` (docs/scaling.md). */
  period: HistoryPartitionPeriod;
}

/** @deprecated Renamed `PruneHistoryOptions`. */
export type CleanupOptions = PruneHistoryOptions;
