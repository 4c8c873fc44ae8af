// An application using taiat as installed from its tarball: every public export, compiled with
// `strict`, `NodeNext` and `skipLibCheck: false`, then run against a real Postgres.
import postgres from 'postgres';
import {
  BUILTIN_JOB_TYPES, createWorkerMetrics, DATABASE_READ_DEADLINE_MS, DatabaseUnavailableError, DependencyError, DuplicateJobIdError, ERROR_CODES,
  FINISHED_STATUSES, InvalidStateError, JOB_STATUSES, JobManager, JobNotFoundError, LIVE_STATUSES, PRIORITIES, readStatus,
  redactUrl, runMigrations, SchemaNotCurrentError, serveMetrics, TaiatError, ValidationError, verifySchema, Worker,
  type Agent, type AgentFor, type AgentJob, type AgentParameters, type AgentPayloadCheck, type AgentRegistry,
  type AppTransaction, type AttemptError, type CleanupOptions, type CreateJobOptions, type Executor, type ExecutorResult,
  type Explanation, type FinishedCounts, type FinishedStatus, type HistoryOptions, type Job, type JobAbortReason,
  type JobContext, type JobManagerOptions, type JobRef, type JobState, type JobStatus, type JsonObject, type JsonValue,
  type KyselyTransaction, type ListJobsOptions, type MetricsServer, type MigrationOptions, type NewJob,
  type NodePostgresClient, type PostgresJsTransaction, type PriorityName, type PruneHistoryOptions, type ReadyJobsOptions,
  type RetryOptions, type SchemaStatus, type SystemStatus, type TaiatErrorCode, type WaitFor, type WorkerEvents,
  type WorkerMetricsOptions, type WorkerOptions, type WorkerStatus,
} from 'taiat';

declare module 'taiat' {
  interface AgentParameters {
    greet: { who: string };
  }
}

type Unused = [Agent, AgentJob<'greet'>, AgentPayloadCheck<'greet'>, AgentParameters, AppTransaction, AttemptError,
  CleanupOptions, CreateJobOptions, Executor, ExecutorResult, Explanation, FinishedCounts, FinishedStatus, HistoryOptions,
  JobAbortReason, JobContext, JobManagerOptions, JobRef, JobState, JobStatus, JsonObject, JsonValue, KyselyTransaction,
  ListJobsOptions, MetricsServer, MigrationOptions, NewJob, NodePostgresClient, PostgresJsTransaction, PriorityName,
  PruneHistoryOptions, ReadyJobsOptions, RetryOptions, SchemaStatus, SystemStatus, TaiatErrorCode, WaitFor, WorkerEvents,
  WorkerMetricsOptions, WorkerOptions, WorkerStatus];
export type { Unused };

const url = process.argv[2]!;
const schema = process.argv[3] ?? 'consumer_app';

const greet: AgentFor<'greet'> = async ({ who }, ctx) => ({ hello: who, attempt: ctx.attempt });
const agents: AgentRegistry = { greet };
// @ts-expect-error: a declared agent registered with other parameters does not compile
const mistyped: AgentRegistry = { greet: async (p: { who: number }) => p.who + 1 };
void mistyped;

await runMigrations(url, { schema });
const verified = await verifySchema(url, { schema });
const jobs = await JobManager.connect({ databaseUrl: url, schema });
const worker = new Worker({ databaseUrl: url, schema, agents, pollInterval: 0.2, startupTimeout: 0 });
const events: string[] = [];
worker.on('job:started', (job: Job) => events.push(`started ${job.name}`));
worker.on('job:completed', (job, result) => events.push(`completed ${job.name} ${JSON.stringify(result)}`));
worker.on('job:failed', (job, error) => events.push(`failed ${job.name} ${error}`));
worker.on('job:retried', (job, error, delaySeconds) => events.push(`retried ${job.name} ${error} ${delaySeconds}`));
worker.on('job:cancelled', (job) => events.push(`cancelled ${job.name}`));
worker.on('job:recovered', (jobId, outcome) => events.push(`recovered ${jobId} ${outcome}`));
worker.on('worker:error', (error: Error) => events.push(`error ${error.message}`));
worker.once('worker:stopped', () => events.push('stopped'));
await worker.start();
const registry = createWorkerMetrics(worker, worker.sql, 4, { readDeadlineMs: DATABASE_READ_DEADLINE_MS });
const metrics: MetricsServer = await serveMetrics(registry, worker.sql, 0, '127.0.0.1');

const sql = postgres(url, { max: 1, onnotice: () => {} });
const inTx = await sql.begin((tx) => jobs.createJob({ jobType: 'agent', name: 'in-tx', payload: { agent_name: 'greet', parameters: { who: 'tx' } } }, { tx }));
const [first] = await jobs.createJobs([
  { id: 'root', jobType: 'agent', name: 'root', payload: { agent_name: 'greet', parameters: { who: 'root' } } },
  { jobType: 'agent', name: 'leaf', dependencies: ['root'], priority: 'high', payload: { agent_name: 'greet', parameters: { who: 'leaf' } } },
]);
const bad = await jobs.createJob({ jobType: 'agent', name: 'bad', payload: {} }).catch((e: unknown) => e);
for (let i = 0; i < 200 && (await jobs.getJobHistory({ limit: 10 })).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
const status = await readStatus(sql, { schema });
await worker.stop();
await metrics.close();
await jobs.close();
await sql.end();

const errors = [TaiatError, ValidationError, JobNotFoundError, DuplicateJobIdError, InvalidStateError, DependencyError, DatabaseUnavailableError, SchemaNotCurrentError];
console.log(JSON.stringify({
  verified: verified.current, inTx: inTx.name, first: first?.id, completed: status.finished.lastHour.completed,
  events: events.filter((e) => e.startsWith('completed')).sort(), stopped: events.includes('stopped'),
  bad: bad instanceof ValidationError ? bad.field : String(bad),
  constants: [JOB_STATUSES.length, FINISHED_STATUSES.length, LIVE_STATUSES.length, PRIORITIES.high, BUILTIN_JOB_TYPES[0], ERROR_CODES.length > 10, errors.length],
  redacted: redactUrl('postgres://u:secret@h/d'),
}));
