/**
 * taiat: a Postgres-only, dependency-aware job runner. The public API.
 */
export { JobManager } from './manager/job-manager.js';
export type {
  JobManagerOptions, ListJobsOptions, ReadyJobsOptions, HistoryOptions, RetryOptions, PruneHistoryOptions, PartitionHistoryOptions, CleanupOptions,
  CreateJobOptions, AgentJob,
} from './manager/job-manager.js';
export type { AppTransaction, PostgresJsTransaction, NodePostgresClient, KyselyTransaction } from './store/index.js';
export type { NewJob, UniqueWhile } from './jobs/validation.js';
export {
  JOB_STATUSES, FINISHED_STATUSES, LIVE_STATUSES, PRIORITIES, BUILTIN_JOB_TYPES,
} from './jobs/model.js';
export type {
  Job, JobStatus, FinishedStatus, PriorityName, AttemptError, JsonObject, JsonValue,
} from './jobs/model.js';
export type { JobProgress } from './jobs/progress.js';
export {
  TaiatError, ValidationError, JobNotFoundError, DuplicateJobIdError, InvalidStateError,
  DependencyError, DatabaseUnavailableError, SchemaNotCurrentError, ScheduleNotFoundError, UnauthorizedError, ForbiddenError, HistoryPartitionError, ERROR_CODES,
} from './errors.js';
export type { ScheduleDefinition, CatchUp } from './jobs/schedule.js';
export type { PartitionedHistory, HistoryPartitionPeriod } from './store/index.js';
export type { Schedule, QueueSettings, QueueState, HeldBack, FlowHold } from './store/index.js';
export type { QueueLimits, KeyLimits, RateLimit, QueueDeclaration } from './jobs/queue-limits.js';
export type { TaiatErrorCode } from './errors.js';
export { runMigrations, verifySchema } from './store/index.js';
export type { SchemaStatus, MigrationOptions } from './store/index.js';
export { redactUrl } from './config/database-url.js';
export { Worker } from './worker/worker.js';
export type { WorkerEvents } from './worker/worker.js';
export type { WorkerOptions } from './worker/options.js';
export type { Agent, AgentFor, AgentRegistry, Executor, ExecutorResult, JobContext, JobAbortReason, WaitFor } from './worker/types.js';
export type { AgentParameters, AgentPayloadCheck } from './jobs/agent-jobs.js';
export type { Explanation, JobRef, JobState } from './store/explain.js';
export { createWorkerMetrics, DATABASE_READ_DEADLINE_MS, serveMetrics } from './worker/metrics.js';
export type { WorkerMetricsOptions } from './worker/metrics.js';
export type { MetricsServer } from './worker/metrics.js';
export { readStatus } from './status/status.js';
export { createDashboardHandler } from './dashboard/handler.js';
export type { DashboardHandler } from './dashboard/handler.js';
export { serveDashboard } from './dashboard/serve.js';
export type { ServeDashboardOptions, DashboardServer } from './dashboard/serve.js';
export type { DashboardOptions, DashboardAuth } from './dashboard/options.js';
export type { JobFilter, JobPage, JobGraph, GraphNode, GraphEdge, FinishedBucket, DashboardAction } from './store/index.js';
export type { SystemStatus, WorkerStatus, FinishedCounts, ScheduleStatus, QueueFlowStatus } from './status/status.js';
