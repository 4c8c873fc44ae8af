import { EventEmitter } from 'node:events';
import os from 'node:os';
import pino, { type Logger } from 'pino';
import { resolveDatabaseUrl } from '../config/database-url.js';
import { isConnectionError, openConnection, translateDatabaseError, type Connection } from '../db/connection.js';
import { SchemaNotCurrentError, TaiatError } from '../errors.js';
import type { Job, JsonValue } from '../jobs/model.js';
import type { NewJob } from '../jobs/validation.js';
import { validateNewJobs } from '../jobs/validation.js';
import { createJobs } from '../store/create-jobs.js';
import { CANCEL_CHANNEL, READY_CHANNEL } from '../store/notify.js';
import { AttemptAbort } from './attempt-abort.js';
import { withDeadline } from './deadline.js';
import { VERSION } from '../version.js';
import { claimJobs, dependencyResults, resultsByIdAndName, type DependencyResults } from './claim.js';
import { pruneHistory, rescueExpiredJobs } from './maintenance.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import { writeOutcomes, type AttemptOutcome } from './outcomes.js';
import { runJob, type RunJobDeps } from './run-job.js';
import { WAIT_FOR, type JobAbortReason, type JobContext, type WaitFor } from './types.js';

/** Events a worker emits, for observers (metrics, tests, UIs). */
export interface WorkerEvents {
  'job:started': [job: Job];
  'job:completed': [job: Job, result: JsonValue | null];
  /** Failed for good (no retries left, or no executor). */
  'job:failed': [job: Job, error: string];
  'job:retried': [job: Job, error: string, delaySeconds: number];
  'job:cancelled': [job: Job];
  /** Jobs of a lost worker that this worker took back. */
  'job:recovered': [jobId: string, outcome: 'retried' | 'failed'];
  /** A database error the worker survived (it retries with backoff). */
  'worker:error': [error: Error];
  /** The worker stopped (after `stop()`). */
  'worker:stopped': [];
}

interface Running {
  job: Job;
  abort: AttemptAbort;
  done: Promise<void>;
}

interface Queued {
  job: Job;
  dependencyResults: Record<string, JsonValue | null>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * Claims ready jobs and runs them. Many workers, in one process or many, may share a database.
 *
 * @example
 * const worker = new Worker({ agents: { greet: async ({ who }) => ({ hello: who }) }, maxConcurrentJobs: 8 });
 * await worker.start();
 * process.on('SIGTERM', () => worker.stop());
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly id: string;
  readonly #opts: ResolvedWorkerOptions;
  readonly #log: Logger;
  readonly #deps: RunJobDeps;
  #conn: Connection | undefined;
  /** Claims and lease renewals (see start()). */
  #claimConn: Connection | undefined;
  readonly #running = new Map<string, Running>();
  /** Claimed (leased) jobs waiting for a free slot: the local queue (`localQueueSize`). */
  #queued: Queued[] = [];
  #outbox: AttemptOutcome[] = [];
  #flushing: Promise<void> | undefined;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #wake: (() => void) | undefined;
  #woken = false;
  #maybeMore = true;
  #loop: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #idleWaiters: (() => void)[] = [];
  #unlisten: (() => Promise<void>)[] = [];

  constructor(options: WorkerOptions = {}) {
    super();
    this.#opts = resolveWorkerOptions(options);
    this.id = this.#opts.workerId;
    this.#log = (this.#opts.logger ?? pino({ level: 'silent' })).child({ workerId: this.id });
    this.#deps = { agents: this.#opts.agents, executors: this.#opts.executors, backoff: this.#opts.retryBackoff };
  }

  /** Connects, registers the worker, listens for notifications, and starts claiming. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new TaiatError('TAIAT_INVALID_STATE', 'a worker can be started once');
    const url = resolveDatabaseUrl({ explicit: this.#opts.databaseUrl });
    const applicationName = `taiat worker ${this.id}`.slice(0, 63);
    const conn = openConnection(url, { max: this.#opts.maxConnections, applicationName });
    this.#conn = conn;
    // Claims and lease renewals get a small pool of their own, so that a backlog of outcome
    // writes never delays a heartbeat. They commit durably: an earlier version committed them
    // with synchronous_commit=off, and the soak caught the cost: a Postgres crash could undo a
    // claim after the job had run, and the rerun reused the attempt number (undercounted).
    this.#claimConn = openConnection(url, { max: 2, applicationName });
    try {
      // Together: each opens a connection of its own (schema check, heartbeat, listen), and in
      // sequence their handshakes were most of a worker's start-up time.
      const [schema, ...rest] = await Promise.allSettled([
        conn.sql<{ name: string }[]>`
          SELECT name FROM unnest(ARRAY['taiat_jobs', 'taiat_job_history', 'taiat_workers']) AS name WHERE to_regclass(name) IS NULL`,
        this.#heartbeat(),
        conn.sql.listen(READY_CHANNEL, (queue) => {
          if (this.#opts.queues.includes(queue)) this.#nudge(true);
        }),
        conn.sql.listen(CANCEL_CHANNEL, (jobId) => this.#abort(jobId, 'cancelled')),
      ]);
      // A missing schema explains the other failures: it is the error to report.
      if (schema.status === 'rejected') throw schema.reason;
      if (schema.value.length > 0) throw new SchemaNotCurrentError(schema.value.map((m) => `relation ${m.name}`));
      for (const r of rest) if (r.status === 'rejected') throw r.reason;
      for (const r of rest) {
        if (r.status === 'fulfilled' && r.value) this.#unlisten.push(() => r.value!.unlisten());
      }
    } catch (error) {
      await conn.close();
      await this.#claimConn.close();
      this.#state = 'stopped';
      throw translateDatabaseError(error, url);
    }
    this.#state = 'running';
    this.#every(this.#opts.heartbeatInterval, () => this.#heartbeat());
    this.#every(this.#opts.leaseSeconds / 2, () => this.#rescue());
    if (this.#opts.cleanupIntervalHours > 0) {
      this.#every(this.#opts.cleanupIntervalHours * 3600, () => this.pruneHistory());
    }
    this.#log.info({ queues: this.#opts.queues, concurrency: this.#opts.maxConcurrentJobs }, 'worker started');
    if (this.#opts.executors.length === 0 && Object.keys(this.#opts.agents).length === 0) {
      this.#log.warn('no agents or executors are registered: every job claimed will fail (see --agents)');
    }
    await this.#rescue();
    this.#loop = this.#claimLoop();
  }

  /**
   * Stops gracefully: no more claims; running jobs get `shutdownTimeout` seconds to finish, then
   * their signals abort and they go back to pending without counting an attempt; outcomes are
   * written; the worker row is marked stopped; the pool closes.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'stopping') return new Promise((resolve) => this.once('worker:stopped', resolve));
    this.#state = 'stopping';
    this.#log.info({ running: this.#running.size }, 'worker stopping');
    this.#nudge(false);
    for (const t of this.#timers) clearInterval(t);
    this.#releaseQueued();
    const finished = Promise.all([...this.#running.values()].map((r) => r.done));
    const graceful = await Promise.race([finished.then(() => true), sleep(this.#opts.shutdownTimeout * 1000).then(() => false)]);
    if (!graceful) for (const id of this.#running.keys()) this.#abort(id, 'shutdown');
    await finished;
    await this.#loop;
    await this.#flushAll(3);
    const conn = this.#conn!;
    try {
      await Promise.all(this.#unlisten.map((u) => u()));
      await conn.sql`UPDATE taiat_workers SET stopped_at = now(), last_heartbeat_at = now() WHERE id = ${this.id}`;
    } catch (error) {
      this.#log.warn({ err: error }, 'could not mark the worker stopped');
    }
    await conn.close();
    await this.#claimConn!.close();
    this.#state = 'stopped';
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    this.#log.info('worker stopped');
    this.emit('worker:stopped');
  }

  /** Resolves when no ready job is left, nothing runs, and every outcome is written (`--once`). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#nudge(true);
    });
  }

  /** @internal The worker's pool (metrics read queue gauges through it). */
  get sql(): Connection['sql'] {
    if (!this.#conn) throw new TaiatError('TAIAT_INVALID_STATE', 'the worker is not started');
    return this.#conn.sql;
  }

  /** Number of jobs this worker is running now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Deletes history past the retention, unless another worker is at it. Returns rows deleted, or null. */
  async pruneHistory(): Promise<number | null> {
    if (!this.#conn || this.#state === 'stopped') throw new TaiatError('TAIAT_INVALID_STATE', 'pruneHistory needs a started worker');
    const deleted = await pruneHistory(this.#conn!, this.#opts.historyRetentionDays);
    if (deleted !== null) this.#log.info({ deleted, retentionDays: this.#opts.historyRetentionDays }, 'history pruned');
    return deleted;
  }

  /** Runs `task` every `seconds`, one at a time; a run still pending after 3 periods (at least 10 s) is abandoned. */
  #every(seconds: number, task: () => Promise<unknown>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.#state !== 'running') return;
      busy = true;
      // A heartbeat stuck in the driver would otherwise stop every later one, and the leases of
      // running jobs would expire under them. Heartbeats, rescues and pruning are safe to repeat.
      withDeadline(task(), Math.max(10, 3 * seconds) * 1000, 'a periodic task')
        .catch((error: unknown) => this.#survive(error))
        .finally(() => (busy = false));
    }, seconds * 1000);
    timer.unref();
    this.#timers.push(timer);
  }

  #survive(error: unknown): void {
    const err = translateDatabaseError(error, this.#conn?.url ?? '') as Error;
    this.#log.error({ err }, isConnectionError(error) ? 'database unreachable; retrying' : 'worker task failed; retrying');
    this.emit('worker:error', err);
  }

  /** Wakes the claim loop; `more` says ready jobs may exist (a notification, a freed slot). */
  #nudge(more: boolean): void {
    if (more) this.#maybeMore = true;
    this.#woken = true;
    this.#wake?.();
  }

  async #waitForWake(ms: number): Promise<void> {
    if (this.#woken) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #claimLoop(): Promise<void> {
    let failures = 0;
    while (this.#state === 'running') {
      this.#woken = false;
      this.#fillSlots();
      const free = this.#opts.maxConcurrentJobs - this.#running.size;
      // Claim for the free slots, plus enough to refill the local queue once it is down to a
      // quarter. Each claim carries a fixed cost, so fewer, larger ones win, while the last quarter
      // keeps the slots busy during the claim's round trip: in alternating in-process drains of
      // 20,000 jobs the median went from 913-966 ms (refill at half) to 862-926 ms.
      const room = this.#opts.localQueueSize - this.#queued.length;
      const want = free + (room * 4 >= this.#opts.localQueueSize * 3 ? room : 0);
      if (want > 0 && this.#maybeMore) {
        this.#maybeMore = false;
        try {
          const jobs = await claimJobs(this.#claimConn!.sql, this.id, this.#opts.queues, want, this.#opts.leaseSeconds);
          failures = 0;
          if (jobs.length === want) this.#maybeMore = true;
          if (jobs.length > 0) await this.#enqueue(jobs);
          // A claim still in flight when stop() began: its jobs go back as if queued at the time.
          if (this.#state !== 'running') this.#releaseQueued();
        } catch (error) {
          this.#maybeMore = true;
          this.#survive(error);
          await sleep(Math.min(10_000, 250 * 2 ** failures++));
          continue;
        }
        this.#fillSlots();
      }
      if (this.#running.size === 0 && this.#queued.length === 0 && !this.#maybeMore && this.#outbox.length === 0 && !this.#flushing) {
        for (const resolve of this.#idleWaiters.splice(0)) resolve();
      }
      await this.#waitForWake(this.#opts.pollInterval * 1000);
      if (!this.#woken) this.#maybeMore = true; // the poll: look again even without a notification
    }
  }

  /**
   * Reads the claimed jobs' dependency results (one query) and puts them in the local queue. If
   * the read fails, the jobs are released: no one else may take them until their lease expires,
   * and the rescue would then count an attempt that never ran.
   */
  async #enqueue(jobs: Job[]): Promise<void> {
    let results: DependencyResults;
    try {
      results = await dependencyResults(this.#conn!.sql, jobs.filter((j) => j.dependencies.length > 0));
    } catch (error) {
      for (const job of jobs) this.#record({ kind: 'released', job }, () => this.#log.child({ jobId: job.id }));
      throw error;
    }
    for (const job of jobs) this.#queued.push({ job, dependencyResults: resultsByIdAndName(job, results) });
  }

  /** Shutdown: claimed jobs that have not started go back to pending, their attempt not counted. */
  #releaseQueued(): void {
    for (const { job } of [...this.#queued]) this.#abort(job.id, 'shutdown');
  }

  /** Starts queued jobs while there are free slots (and the worker is not stopping). */
  #fillSlots(): void {
    while (this.#state === 'running' && this.#running.size < this.#opts.maxConcurrentJobs && this.#queued.length > 0) {
      this.#start(this.#queued.shift()!);
    }
  }

  #start({ job, dependencyResults: deps }: Queued): void {
    const abort = new AttemptAbort();
    // The job's child logger is made when first used (pino children cost per job otherwise).
    let jobLog: Logger | undefined;
    const log = () => (jobLog ??= this.#log.child({ jobId: job.id, jobName: job.name }));
    const ctx: JobContext = {
      job,
      attempt: job.attempts,
      get signal() {
        return abort.signal;
      },
      get logger() {
        return log();
      },
      dependencyResults: deps,
      createJobs: (children: NewJob[]) => this.#createChildren(job.id, children),
      waitFor: (jobIds: string[]): WaitFor => ({ [WAIT_FOR]: true, jobIds }),
    };
    if (this.#log.isLevelEnabled('debug')) log().debug({ attempt: job.attempts, jobType: job.jobType }, 'job started');
    this.emit('job:started', job);
    const done = runJob(job, ctx, abort, this.#deps, log).then((outcome) => {
      this.#running.delete(job.id);
      if (outcome) this.#record(outcome, log);
      this.#fillSlots();
      this.#nudge(this.#maybeMore);
    });
    this.#running.set(job.id, { job, abort, done });
  }

  /** `ctx.createJobs`: children of `parentId`, committed at once whatever the parent's outcome. */
  async #createChildren(parentId: string, children: NewJob[]): Promise<Job[]> {
    const validated = validateNewJobs(children);
    try {
      return await createJobs(this.#conn!.sql, validated, { parentId });
    } catch (error) {
      throw translateDatabaseError(error, this.#conn!.url);
    }
  }

  #abort(jobId: string, reason: JobAbortReason): void {
    const index = this.#queued.findIndex((q) => q.job.id === jobId);
    if (index >= 0) {
      // Claimed but not started: it never ran, so a shutdown or a cancel settles it here.
      const [{ job }] = this.#queued.splice(index, 1) as [Queued];
      const log = () => this.#log.child({ jobId });
      if (reason === 'cancelled') this.#record({ kind: 'cancelled', job, error: 'cancelled by request before it started' }, log);
      else if (reason === 'shutdown') this.#record({ kind: 'released', job }, log);
      return;
    }
    const running = this.#running.get(jobId);
    if (running && running.abort.reason === undefined) {
      this.#log.info({ jobId, reason }, 'aborting job');
      running.abort.abort(reason);
    }
  }

  #record(outcome: AttemptOutcome, log: () => Logger): void {
    this.#outbox.push(outcome);
    if (outcome.kind === 'failed') log().warn({ error: outcome.error, retryInSeconds: outcome.retryInSeconds }, 'job attempt failed');
    else if (this.#log.isLevelEnabled('debug')) log().debug({ outcome: outcome.kind }, `job ${outcome.kind}`);
    if (!this.#flushing) this.#flushing = this.#flushAll(Infinity).finally(() => (this.#flushing = undefined));
  }

  /** How long an outcome write may take before it is sent again: two leases, at least 10 s. */
  get #writeDeadlineMs(): number {
    return Math.max(10, 2 * this.#opts.leaseSeconds) * 1000;
  }

  /** Writes the outbox in batches; on a database error keeps the batch and retries with backoff. */
  async #flushAll(maxFailures: number): Promise<void> {
    if (this.#flushing && maxFailures !== Infinity) await this.#flushing;
    let failures = 0;
    while (this.#outbox.length > 0) {
      const batch = this.#outbox.slice(0, this.#opts.completionBatchSize);
      try {
        // Lease-guarded, so a write abandoned at the deadline and sent again lands at most once.
        const written = await withDeadline(writeOutcomes(this.#conn!.sql, this.id, batch), this.#writeDeadlineMs, 'writing outcomes');
        if (written.readyMayExist) this.#maybeMore = true;
        this.#outbox.splice(0, batch.length);
        failures = 0;
        this.#emitOutcomes(batch, written.ids);
      } catch (error) {
        this.#survive(error);
        if (++failures >= maxFailures) {
          this.#log.error({ lost: this.#outbox.length }, 'could not write outcomes; their leases will expire and the jobs run again');
          return;
        }
        await sleep(Math.min(10_000, 250 * 2 ** failures));
      }
    }
    this.#nudge(false);
  }

  #emitOutcomes(batch: AttemptOutcome[], written: Set<string>): void {
    let retryWake = Infinity;
    for (const o of batch) {
      if (!written.has(o.job.id)) {
        this.#log.warn({ jobId: o.job.id, outcome: o.kind }, 'outcome not written: the job is no longer leased by this worker');
        continue;
      }
      switch (o.kind) {
        case 'completed':
          this.emit('job:completed', o.job, o.result);
          break;
        case 'failed':
          if (o.retryInSeconds === null) this.emit('job:failed', o.job, o.error);
          else {
            this.emit('job:retried', o.job, o.error, o.retryInSeconds);
            retryWake = Math.min(retryWake, o.retryInSeconds);
          }
          break;
        case 'cancelled':
          this.emit('job:cancelled', o.job);
          break;
        case 'released':
        case 'waiting':
          break;
      }
    }
    // Wake when the earliest retry this worker scheduled is due, rather than at the next poll.
    if (retryWake < this.#opts.pollInterval) setTimeout(() => this.#nudge(true), retryWake * 1000 + 5).unref();
  }

  async #heartbeat(): Promise<void> {
    const sql = this.#claimConn!.sql;
    await sql`
      INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version)
      VALUES (${this.id}, ${os.hostname()}, ${process.pid}, ${sql.json(this.#opts.queues)}, ${this.#opts.maxConcurrentJobs}, ${VERSION})
      ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL`;
    // Finished jobs whose outcome is not written yet are still running in the database: renew
    // them too, or a slow write lets their lease expire and another worker runs them again.
    const pendingWrites = this.#outbox.map((o) => o.job.id);
    const held = [...this.#running.keys(), ...this.#queued.map((q) => q.job.id), ...pendingWrites];
    if (held.length === 0) return;
    const renewed = await sql<{ id: string; cancel: boolean }[]>`
      UPDATE taiat_jobs SET lease_expires_at = now() + make_interval(secs => ${this.#opts.leaseSeconds}::float8)
       WHERE id = ANY(${held}::text[]) AND status = 'running' AND lease_owner = ${this.id}
      RETURNING id, cancel_requested_at IS NOT NULL AS cancel`;
    const still = new Map(renewed.map((r) => [r.id, r.cancel]));
    const writing = new Set(pendingWrites);
    for (const id of held) {
      if (writing.has(id)) continue; // its outcome is decided; the guarded write settles it
      if (!this.#running.has(id) && !this.#queued.some((q) => q.job.id === id)) continue; // finished while renewing
      if (!still.has(id)) this.#abort(id, 'lease-lost');
      else if (still.get(id)) this.#abort(id, 'cancelled');
    }
  }

  async #rescue(): Promise<void> {
    const rescued = await rescueExpiredJobs(this.#conn!, this.#opts.retryBackoff);
    for (const id of rescued.retried) this.emit('job:recovered', id, 'retried');
    for (const id of rescued.failed) this.emit('job:recovered', id, 'failed');
    if (rescued.retried.length + rescued.failed.length > 0) {
      this.#log.warn({ retried: rescued.retried, failed: rescued.failed }, 'took back jobs of a lost worker');
      this.#nudge(true);
    }
  }
}
