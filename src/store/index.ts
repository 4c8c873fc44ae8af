/**
 * The whole database surface of taiat: every statement it sends lives in a module of this folder,
 * one module per operation, and is listed here. Callers (manager, worker, status, CLI) import
 * from this file, never write SQL of their own. Writes are set-based (a fixed number of
 * statements per call, whatever the number of jobs) and guarded: a write to a running job
 * applies only while the job is still running under the writer's lease.
 */

// Schema: migrations, the relations taiat needs, advisory lock keys.
export { runMigrations, verifySchema, missingRelations, SCHEMA_RELATIONS, MIGRATIONS_FOLDER } from './migrations.js';
export type { SchemaStatus, MigrationOptions } from './migrations.js';

// Creating jobs: validated input, graphs, streamed COPY, durability.
export { createJobsFromInput, createJobFromInput, createJobs } from './create-jobs.js';
export type { CreateOptions } from './create-jobs.js';
export { commitsEarly } from './durability.js';
export { createJobsInTransaction } from './create-in-transaction.js';
export type { AppTransaction, KyselyTransaction, NodePostgresClient, PostgresJsTransaction } from './app-transaction.js';

// Reading jobs.
export { readJob, readJobs, readReadyJobs, readHistory } from './read-jobs.js';
export { explainJob } from './explain.js';
export type { Explanation, JobRef, JobState } from './explain.js';

// The worker's cycle: claim, results of dependencies, outcomes, leases.
export { claimJobs, claimLimitedJobs, readDependencyResults, resultsByIdAndName } from './claim-jobs.js';
export type { DependencyResults, FreedPlace, LimitedClaim } from './claim-jobs.js';
export { notifyReady } from './notify.js';
export {
  applyQueueDeclarations, nextRateOpening, queueExists, readControlledQueues, readQueueSettings, readQueueStates, removeQueueSettings, setKeyLimits, setQueueLimits, setQueuePaused,
} from './queues.js';
export type { HeldBack, QueueSettings, QueueState } from './queues.js';
export type { FlowHold } from './flow-hold.js';
export { readKnownQueues } from './known-queues.js';
export { writeOutcomes } from './write-outcomes.js';
export { writeProgress } from './progress.js';
export type { OutcomesWritten } from './write-outcomes.js';
export { recordHeartbeat, renewLeases, markWorkerStopped } from './workers.js';
export type { WorkerRegistration } from './workers.js';
export { rescueExpiredJobs, WORKER_LOST } from './rescue-expired.js';
export type { Rescued } from './rescue-expired.js';

// Operating on jobs by request.
export { cancelJob } from './cancel-job.js';
export { retryJob } from './retry-job.js';
export { pruneHistory, pruneHistoryUnlessBusy, type OnUndropped } from './prune-history.js';
export { ensureHistoryPartitions, readHistoryPartitioning, HISTORY_PARTITION_PERIODS, PARTITIONS_AHEAD } from './history-partitions.js';
export type { HistoryPartition, HistoryPartitioning, HistoryPartitionPeriod } from './history-partitions.js';
export { dropExpiringBound, partitionHistory, type ConversionSteps } from './partition-history.js';
export type { PartitionedHistory } from './partition-history.js';

// Schedules: definitions, and their ticks.
export {
  upsertSchedule, readSchedules, removeSchedule, setSchedulePaused, syncModuleSchedules, removeOrphanedModuleSchedules,
} from './schedules.js';
export type { Schedule } from './schedules.js';
export { runDueTicks, triggerTick } from './schedule-ticks.js';
export type { TicksRun } from './schedule-ticks.js';

// Status and health.
export { readStatusRows, readQueueCounts, readFlowControlStates, readOldestReadyWaits, countWorkers, LOST_AFTER_SECONDS } from './status.js';
export type { QueueCounts, WorkerRow } from './status.js';
export { databaseAnswers } from './ping.js';

// The names of an instance: its schema's tables, channels and locks.
export { schemaNames } from './schema-names.js';
export type { SchemaNames } from './schema-names.js';
export { searchJobs, selectJobIds, decodeCursor } from './job-search.js';
export type { JobCursor } from './job-search.js';
export type { JobFilter, JobPage } from './job-search.js';
export { readJobGraph, readBlastRadius, readCancelPreview } from './job-graph.js';
export type { JobGraph, GraphNode, GraphEdge } from './job-graph.js';
export { rollUpFinishedMinutes, readFinishedSeries } from './finished-minutes.js';
export type { FinishedBucket } from './finished-minutes.js';
export { recordAction, readActions } from './dashboard-actions.js';
export type { DashboardAction } from './dashboard-actions.js';
