import { readDatabaseUrlFrom, resolveDatabaseUrl, transactionPoolingFrom } from '../config/database-url.js';
import { tracingFrom } from '../config/tracing.js';
import { loadTracing, NO_TRACING, type Tracing } from '../tracing/tracing.js';
import { parseOptions } from '../config/parse-options.js';
import { resolveSchema } from '../config/schema-name.js';
import { openConnection, openReadConnection, translateDatabaseError, type Connection } from '../db/connection.js';
import { SchemaNotCurrentError } from '../errors.js';
import type { Job } from '../jobs/model.js';
import type { KeyLimits, QueueLimits } from '../jobs/queue-limits.js';
import type { ScheduleDefinition } from '../jobs/schedule.js';
import { checkJobList, validateJobRange, validateNewJob, type ValidationLimits } from '../jobs/validation.js';
import {
  cancelJob, commitsEarly, createJobFromInput, createJobsFromInput, createJobsInTransaction, explainJob, missingRelations,
  partitionHistory, pruneHistory, readHistory, readJob, readJobs, readReadyJobs, retryJob, schemaNames,
  type Explanation, type PartitionedHistory, type QueueSettings, type QueueState, type Schedule, type SchemaNames,
} from '../store/index.js';
import {
  createOptionsSchema, historySchema, jobIdSchema, listJobsSchema, managerOptionsSchema, partitionHistorySchema, pruneHistorySchema, readyJobsSchema, retrySchema,
} from './options.js';
import { QueueCalls } from './queues.js';
import { InFlight } from './in-flight.js';
import { ScheduleCalls } from './schedules.js';
import type {
  AgentJob, CreateJobOptions, HistoryOptions, JobManagerOptions, ListJobsOptions, PartitionHistoryOptions, PruneHistoryOptions, ReadyJobsOptions,
  RetryOptions,
} from './types.js';

export type {
  AgentJob, CleanupOptions, CreateJobOptions, HistoryOptions, JobManagerOptions, ListJobsOptions, PartitionHistoryOptions, PruneHistoryOptions,
  ReadyJobsOptions, RetryOptions,
} from './types.js';

/**
 * The programmatic API: create, inspect, cancel and retry jobs. One instance holds a connection
 * pool (two with `readDatabaseUrl`: pure reads go to the replica); `close()` it when done.
 *
 * @example
 * const jobs = await JobManager.connect({ databaseUrl: 'postgres://localhost/taiat' });
 * const extract = await jobs.createJob({ jobType: 'agent', name: 'extract', payload: { agent_name: 'extract' } });
 * await jobs.createJob({ jobType: 'agent', name: 'load', payload: { agent_name: 'load' }, dependencies: [extract.id] });
 * await jobs.close();
 */
export class JobManager {
  readonly #conn: Connection;
  /** Pure reads (get, lists, explain): the replica's pool, or `#conn`. Nothing that writes or decides a write. */
  readonly #reads: Connection;
  readonly #limits: ValidationLimits;
  readonly #t: SchemaNames;
  readonly #schedules: ScheduleCalls;
  readonly #queues: QueueCalls;
  readonly #inFlight = new InFlight();
  readonly #tracing: Tracing;

  private constructor(conn: Connection, reads: Connection, limits: ValidationLimits, schema: string, tracing: Tracing = NO_TRACING) {
    this.#conn = conn;
    this.#reads = reads;
    this.#tracing = tracing;
    this.#limits = limits;
    this.#t = schemaNames(schema);
    this.#schedules = new ScheduleCalls(conn, reads, this.#t);
    this.#queues = new QueueCalls(conn, reads, this.#t);
  }

  /** Connects, and checks the database is reachable and initialised (`taiat init`). */
  static async connect(options: JobManagerOptions = {}): Promise<JobManager> {
    const opts = parseOptions(managerOptionsSchema, options, '');
    const schema = resolveSchema(opts.schema);
    const tracing = await loadTracing(tracingFrom(opts.tracing));
    const prepare = !transactionPoolingFrom(opts.transactionPooling);
    const conn = openConnection(resolveDatabaseUrl({ explicit: opts.databaseUrl }), { max: opts.maxConnections, prepare });
    // Lazy, like every pool: a program that only writes never connects to the replica.
    const reads = openReadConnection(conn, readDatabaseUrlFrom(opts.readDatabaseUrl), { max: opts.maxConnections, prepare, applicationName: 'taiat reads' });
    const manager = new JobManager(conn, reads, opts, schema, tracing);
    try {
      await manager.#run(async () => {
        // Asked now, alongside the check, rather than on the first create.
        const [missing] = await Promise.all([missingRelations(conn.sql, manager.#t), commitsEarly(conn.sql)]);
        if (missing.length > 0) throw new SchemaNotCurrentError(missing, schema);
      });
    } catch (error) {
      await Promise.all([conn.close(), reads.close()]);
      throw error;
    }
    return manager;
  }

  /** @internal Wraps an existing pool (tests: a pool that cannot connect). */
  static fromConnection(conn: Connection, limits: Partial<ValidationLimits> = {}): JobManager {
    return new JobManager(conn, conn, parseOptions(managerOptionsSchema, limits, ''), resolveSchema());
  }

  /** Runs a call on `conn` (default the primary), its errors told with that pool's URL, redacted. */
  async #run<T>(fn: () => Promise<T>, conn = this.#conn): Promise<T> {
    try {
      return await this.#inFlight.run(fn);
    } catch (error) {
      throw translateDatabaseError(error, conn.url);
    }
  }

  /**
   * Creates one job. Throws a `TaiatError` (and writes nothing) on bad input. With `{ tx }`, the
   * job is created in that transaction of the application's (see `CreateJobOptions`).
   */
  async createJob<A extends string>(job: AgentJob<A>, options: CreateJobOptions = {}): Promise<Job> {
    const { tx } = parseOptions(createOptionsSchema, options, 'options');
    if (tx !== undefined) {
      const validated = validateNewJob(job, this.#limits);
      const [created] = await this.#tracing.create([job], (traceContext) => this.#run(() => createJobsInTransaction(tx, this.#t, [validated], traceContext)));
      return created!;
    }
    return this.#tracing.create([job], (traceContext) => this.#run(() => createJobFromInput(this.#conn.sql, this.#t, job, this.#limits, { traceContext })));
  }

  /**
   * Creates many jobs at once, all or nothing: a dependency graph whose jobs may depend on each
   * other (by caller-chosen `id`) and on existing jobs. Set-based: a fixed number of statements
   * (more than 2,000 independent jobs stream through one `COPY`, each chunk validated while the
   * last one is stored, in one transaction). Returns the jobs in the order given. With `{ tx }`,
   * the jobs are created in that transaction of the application's.
   */
  async createJobs<A extends string>(jobs: AgentJob<A>[], options: CreateJobOptions = {}): Promise<Job[]> {
    const { tx } = parseOptions(createOptionsSchema, options, 'options');
    if (tx !== undefined) {
      checkJobList(jobs, this.#limits);
      const validated = validateJobRange(jobs, 0, jobs.length, this.#limits);
      return this.#tracing.create(jobs, (traceContext) => this.#run(() => createJobsInTransaction(tx, this.#t, validated, traceContext)));
    }
    return this.#tracing.create(jobs, (traceContext) => this.#run(() => createJobsFromInput(this.#conn.sql, this.#t, jobs, this.#limits, { traceContext })));
  }

  /** A pure read, on the replica when there is one (which may lag the primary by a moment). */
  #read<T>(fn: (reads: Connection) => Promise<T>): Promise<T> {
    return this.#run(() => fn(this.#reads), this.#reads);
  }

  /** A job, live or finished; null when unknown. */
  async getJob(id: string): Promise<Job | null> {
    const jobId = parseOptions(jobIdSchema, id, 'id');
    return this.#read((reads) => readJob(reads, this.#t, jobId));
  }

  /** Pending jobs whose dependencies all completed and whose `runAt` has come, in claim order. */
  async getReadyJobs(options: ReadyJobsOptions = {}): Promise<Job[]> {
    const opts = parseOptions(readyJobsSchema, options, 'options');
    return this.#read((reads) => readReadyJobs(reads, this.#t, opts));
  }

  /**
   * Jobs, newest first (ready jobs: in claim order). Finished statuses read history; no status
   * reads both tables.
   */
  async listJobs(options: ListJobsOptions = {}): Promise<Job[]> {
    const opts = parseOptions(listJobsSchema, options, 'options');
    if (opts.readyOnly) {
      if (opts.status && opts.status !== 'pending') return [];
      return this.#read((reads) => readReadyJobs(reads, this.#t, opts));
    }
    return this.#read((reads) => readJobs(reads, this.#t, opts));
  }

  /** Finished jobs, most recently finished first. */
  async getJobHistory(options: HistoryOptions = {}): Promise<Job[]> {
    const opts = parseOptions(historySchema, options, 'options');
    return this.#read((reads) => readHistory(reads, this.#t, opts));
  }

  /**
   * Cancels a job. A pending job moves to history as `cancelled` at once, and so does every job
   * that depends on it, directly or transitively. A running job is asked to stop: its worker
   * aborts the executor's signal and the job ends `cancelled` (not retried). Returns the job as it
   * is after the call. Throws `InvalidStateError` for a finished job.
   */
  async cancelJob(id: string): Promise<Job> {
    const jobId = parseOptions(jobIdSchema, id, 'id');
    await this.#run(() => this.#conn.sql.begin((tx) => cancelJob(tx, this.#t, jobId)));
    // Read back on the primary: a replica's copy may not show the change yet.
    return (await this.#run(() => readJob(this.#conn, this.#t, jobId)))!;
  }

  /**
   * Puts a failed or cancelled job back to pending, with its retry count reset. With
   * `{ dependents: true }`, the jobs cancelled because it failed come back too, blocked on it.
   * Throws `InvalidStateError` for a job that is not failed or cancelled, and `DependencyError`
   * when one of its own dependencies failed (retry that one first).
   */
  async retryJob(id: string, options: RetryOptions = {}): Promise<Job> {
    const jobId = parseOptions(jobIdSchema, id, 'id');
    const opts = parseOptions(retrySchema, options, 'options');
    await this.#run(() => this.#conn.sql.begin((tx) => retryJob(tx, this.#t, jobId, opts.dependents)));
    return (await this.#run(() => readJob(this.#conn, this.#t, jobId)))!;
  }

  /**
   * Why a job is (not) running: its state, the unfinished dependencies it waits on and, at the
   * bottom of its dependency chain, the jobs that must finish first; when it is scheduled for;
   * which worker holds it and until when; or how it ended and because of which job. Null when
   * the id is unknown.
   */
  async explain(id: string): Promise<Explanation | null> {
    const jobId = parseOptions(jobIdSchema, id, 'id');
    return this.#read((reads) => explainJob(reads.sql, this.#t, jobId));
  }

  /** Deletes history rows finished more than `days` days ago, in batches. Returns the count. */
  async pruneHistory(options: PruneHistoryOptions): Promise<number> {
    const opts = parseOptions(pruneHistorySchema, options, 'options');
    return this.#run(() => pruneHistory(this.#conn, this.#t, opts.days, opts.batchSize, options.onProgress));
  }

  /**
   * Partitions history by finish time, one partition per `period`, without copying its rows (run
   * as the tables' owner); on a partitioned history, records the period and creates missing
   * partitions. Workers then create partitions ahead and prune by dropping them. See docs/operations.md.
   */
  async partitionHistory(options: PartitionHistoryOptions): Promise<PartitionedHistory> {
    const opts = parseOptions(partitionHistorySchema, options, 'options');
    return this.#run(() => partitionHistory(this.#conn.sql, this.#t, opts.period));
  }

  /** @deprecated Renamed `pruneHistory`. */
  async cleanupOldHistory(options: PruneHistoryOptions): Promise<number> {
    return this.pruneHistory(options);
  }

  /**
   * Creates or changes a schedule (a cron expression or an interval, and the job or graph each
   * tick creates); returns it as stored. A changed timing moves its next tick to the first from
   * now. See docs/schedules.md.
   */
  async upsertSchedule(id: string, definition: ScheduleDefinition): Promise<Schedule> {
    return this.#run(() => this.#schedules.upsert(id, definition));
  }

  /** Every schedule, with its next and last tick and how the last tick's jobs stand. */
  async listSchedules(): Promise<Schedule[]> {
    return this.#read(() => this.#schedules.list());
  }

  /** A schedule; null when unknown. */
  async getSchedule(id: string): Promise<Schedule | null> {
    return this.#read(() => this.#schedules.get(id));
  }

  /** Removes a schedule (the jobs its ticks created stay). Throws `ScheduleNotFoundError`. */
  async removeSchedule(id: string): Promise<void> {
    return this.#run(() => this.#schedules.remove(id));
  }

  /** Stops a schedule's ticks until it is resumed. */
  async pauseSchedule(id: string): Promise<Schedule> {
    return this.#run(() => this.#schedules.setPaused(id, true));
  }

  /** Resumes a schedule from its next tick after now (the ticks due while paused do not run). */
  async resumeSchedule(id: string): Promise<Schedule> {
    return this.#run(() => this.#schedules.setPaused(id, false));
  }

  /** Runs one tick of a schedule now (paused or not); returns the ids of the jobs it created. */
  async triggerSchedule(id: string): Promise<string[]> {
    return this.#run(() => this.#schedules.trigger(id));
  }

  /** Pauses a queue: no worker claims its jobs until resumed (running ones finish, creates go on); stored (docs/flow-control.md). */
  async pauseQueue(name: string): Promise<QueueSettings> {
    return this.#run(() => this.#queues.setPaused(name, true));
  }

  /** Resumes a paused queue and wakes its workers. A queue never seen is a `ValidationError`. */
  async resumeQueue(name: string): Promise<QueueSettings> {
    return this.#run(() => this.#queues.setPaused(name, false));
  }

  /**
   * Sets a queue's limits across all workers (`concurrency`, `keyConcurrency`, `rateLimit`,
   * `keyRateLimit`). A field left out keeps its value; `null` removes that limit.
   */
  async setQueueLimits(name: string, limits: QueueLimits): Promise<QueueSettings> {
    return this.#run(() => this.#queues.setLimits(name, limits));
  }

  /** Limits of one concurrency key in place of its queue's key defaults; both `null` removes them. */
  async setKeyLimits(queue: string, key: string, limits: KeyLimits): Promise<QueueSettings> {
    return this.#run(() => this.#queues.setKeyLimits(queue, key, limits));
  }

  /** Removes a queue's settings (pause, limits, keys' limits; a module's come back at a worker's start); whether it had any. */
  async removeQueue(name: string): Promise<boolean> {
    return this.#run(() => this.#queues.remove(name));
  }

  /** A queue's stored settings; null when it has none. */
  async getQueue(name: string): Promise<QueueSettings | null> {
    return this.#read(() => this.#queues.get(name));
  }

  /** Every queue with settings or live jobs: its settings, counts, and the ready jobs its limits hold back now. */
  async listQueues(): Promise<QueueState[]> {
    return this.#read(() => this.#queues.list());
  }

  /** Closes the pools once the calls in flight have finished, in at most 5 s (later ones are refused). */
  async close(): Promise<void> {
    const left = await this.#inFlight.close(5);
    await Promise.all([this.#conn.close(left), this.#reads.close(left)]);
  }
}
