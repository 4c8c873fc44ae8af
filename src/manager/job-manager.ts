import { resolveDatabaseUrl } from '../config/database-url.js';
import { parseOptions } from '../config/parse-options.js';
import { openConnection, translateDatabaseError, type Connection } from '../db/connection.js';
import { SchemaNotCurrentError } from '../errors.js';
import type { FinishedStatus, Job, JobStatus } from '../jobs/model.js';
import type { AgentPayloadCheck } from '../jobs/agent-jobs.js';
import { checkJobList, validateJobRange, validateNewJob, type NewJob, type ValidationLimits } from '../jobs/validation.js';
import {
  cancelJob, commitsEarly, createJobFromInput, createJobsFromInput, explainJob, missingRelations, pruneHistory,
  createJobsInTransaction, readHistory, readJob, readJobs, readReadyJobs, retryJob, schemaNames,
  type AppTransaction, type Explanation, type SchemaNames,
} from '../store/index.js';
import { resolveSchema } from '../config/schema-name.js';
import {
  createOptionsSchema, historySchema, jobIdSchema, listJobsSchema, managerOptionsSchema, pruneHistorySchema, readyJobsSchema, retrySchema,
} from './options.js';

export interface JobManagerOptions {
  /** Default: `TAIAT_DATABASE_URL`, then `DATABASE_URL`. */
  databaseUrl?: string;
  /** The schema of the taiat instance (default: `TAIAT_SCHEMA`, then `public`). */
  schema?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
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

/** @deprecated Renamed `PruneHistoryOptions`. */
export type CleanupOptions = PruneHistoryOptions;

/**
 * The programmatic API: create, inspect, cancel and retry jobs. One instance holds a connection
 * pool; `close()` it when done.
 *
 * @example
 * const jobs = await JobManager.connect({ databaseUrl: 'postgres://localhost/taiat' });
 * const extract = await jobs.createJob({ jobType: 'agent', name: 'extract', payload: { agent_name: 'extract' } });
 * await jobs.createJob({ jobType: 'agent', name: 'load', payload: { agent_name: 'load' }, dependencies: [extract.id] });
 * await jobs.close();
 */
export class JobManager {
  readonly #conn: Connection;
  readonly #limits: ValidationLimits;
  readonly #t: SchemaNames;
  /** Calls in flight: `close()` lets them finish (a create's last step is its flush). */
  readonly #inFlight = new Set<Promise<unknown>>();

  private constructor(conn: Connection, limits: ValidationLimits, schema: string) {
    this.#conn = conn;
    this.#limits = limits;
    this.#t = schemaNames(schema);
  }

  /** Connects, and checks the database is reachable and initialised (`taiat init`). */
  static async connect(options: JobManagerOptions = {}): Promise<JobManager> {
    const opts = parseOptions(managerOptionsSchema, options, '');
    const url = resolveDatabaseUrl({ explicit: opts.databaseUrl });
    const schema = resolveSchema(opts.schema);
    const conn = openConnection(url, { max: opts.maxConnections });
    const manager = new JobManager(conn, opts, schema);
    try {
      await manager.#run(async () => {
        // Asked now, alongside the check, rather than on the first create.
        const [missing] = await Promise.all([missingRelations(conn.sql, manager.#t), commitsEarly(conn.sql)]);
        if (missing.length > 0) throw new SchemaNotCurrentError(missing);
      });
    } catch (error) {
      await conn.close();
      throw error;
    }
    return manager;
  }

  /** @internal Wraps an existing pool (tests: a pool that cannot connect). */
  static fromConnection(conn: Connection, limits: Partial<ValidationLimits> = {}): JobManager {
    return new JobManager(conn, parseOptions(managerOptionsSchema, limits, ''), resolveSchema());
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    let call: Promise<T> | undefined;
    try {
      call = fn();
      this.#inFlight.add(call);
      return await call;
    } catch (error) {
      throw translateDatabaseError(error, this.#conn.url);
    } finally {
      if (call) this.#inFlight.delete(call);
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
      const [created] = await this.#run(() => createJobsInTransaction(tx, this.#t, [validated]));
      return created!;
    }
    return this.#run(() => createJobFromInput(this.#conn.sql, this.#t, job, this.#limits));
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
      return this.#run(() => createJobsInTransaction(tx, this.#t, validated));
    }
    return this.#run(() => createJobsFromInput(this.#conn.sql, this.#t, jobs, this.#limits));
  }

  /** A job, live or finished; null when unknown. */
  async getJob(id: string): Promise<Job | null> {
    const jobId = parseOptions(jobIdSchema, id, 'id');
    return this.#run(() => readJob(this.#conn, this.#t, jobId));
  }

  /** Pending jobs whose dependencies all completed and whose `runAt` has come, in claim order. */
  async getReadyJobs(options: ReadyJobsOptions = {}): Promise<Job[]> {
    const opts = parseOptions(readyJobsSchema, options, 'options');
    return this.#run(() => readReadyJobs(this.#conn, this.#t, opts));
  }

  /**
   * Jobs, newest first (ready jobs: in claim order). Finished statuses read history; no status
   * reads both tables.
   */
  async listJobs(options: ListJobsOptions = {}): Promise<Job[]> {
    const opts = parseOptions(listJobsSchema, options, 'options');
    if (opts.readyOnly) {
      if (opts.status && opts.status !== 'pending') return [];
      return this.#run(() => readReadyJobs(this.#conn, this.#t, opts));
    }
    return this.#run(() => readJobs(this.#conn, this.#t, opts));
  }

  /** Finished jobs, most recently finished first. */
  async getJobHistory(options: HistoryOptions = {}): Promise<Job[]> {
    const opts = parseOptions(historySchema, options, 'options');
    return this.#run(() => readHistory(this.#conn, this.#t, opts));
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
    return (await this.getJob(jobId))!;
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
    return (await this.getJob(jobId))!;
  }

  /**
   * Why a job is (not) running: its state, the unfinished dependencies it waits on and, at the
   * bottom of its dependency chain, the jobs that must finish first; when it is scheduled for;
   * which worker holds it and until when; or how it ended and because of which job. Null when
   * the id is unknown.
   */
  async explain(id: string): Promise<Explanation | null> {
    const jobId = parseOptions(jobIdSchema, id, 'id');
    return this.#run(() => explainJob(this.#conn.sql, this.#t, jobId));
  }

  /** Deletes history rows finished more than `days` days ago, in batches. Returns the count. */
  async pruneHistory(options: PruneHistoryOptions): Promise<number> {
    const opts = parseOptions(pruneHistorySchema, options, 'options');
    return this.#run(() => pruneHistory(this.#conn, this.#t, opts.days, opts.batchSize, options.onProgress));
  }

  /** @deprecated Renamed `pruneHistory`. */
  async cleanupOldHistory(options: PruneHistoryOptions): Promise<number> {
    return this.pruneHistory(options);
  }

  /** Closes the pool once the calls in flight have finished, in at most 5 s (later, they fail). */
  async close(): Promise<void> {
    // A create closed between its commit and its flush would report an error for jobs that were
    // committed: calls in flight finish first, the whole close taking at most 5 s.
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.#inFlight),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000).unref())),
    ]);
    clearTimeout(timer);
    await this.#conn.close(Math.max(0, 5 - (performance.now() - start) / 1000));
  }
}
