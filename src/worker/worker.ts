import { EventEmitter } from 'node:events';
import pino, { type Logger } from 'pino';
import { redactUrl, resolveDatabaseUrl } from '../config/database-url.js';
import { translateDatabaseError, type Connection } from '../db/connection.js';
import { SchemaNotCurrentError, TaiatError } from '../errors.js';
import type { Job } from '../jobs/model.js';
import { DEFAULT_LIMITS, type NewJob } from '../jobs/validation.js';
import {
  createJobsFromInput, markWorkerStopped, writeProgress, missingRelations, pruneHistoryUnlessBusy, schemaNames,
  applyQueueDeclarations, syncModuleSchedules, type SchemaNames,
} from '../store/index.js';
import { loadTracing, type Tracing } from '../tracing/tracing.js';
import { Completer } from './completer.js';
import { emitWritten, type Listener, type WorkerEvents } from './events.js';
import { jobLogFields } from './job-log.js';
import { JobRunner } from './job-runner.js';
import { LeaseKeeper } from './lease-keeper.js';
import { historyPartitionService, Maintenance, scheduleServices, type MaintenanceService } from './maintenance.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import { closePools, listenForNotifications, openPools, type Pools } from './pools.js';
import { Producer } from './producer.js';
import { SurvivalLog } from './survival-log.js';
import { retryWhileUnreachable, sleep, withDeadline } from './timers.js';
import type { JobAbortReason } from './types.js';
import { VERSION } from '../version.js';

export type { WorkerEvents } from './events.js';


// Typed events by overloads, not `EventEmitter<WorkerEvents>`: the generic form needs a recent
// @types/node, and an application's older one failed to compile `worker.on(...)` (TS2576).
export interface Worker {
  on<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this;
  once<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this;
  off<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this;
  addListener<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this;
  removeListener<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this;
  emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): boolean;
}

/**
 * Claims ready jobs and runs them. Many workers, in one process or many, may share a database.
 * Made of parts: a producer (claim loop, local queue), a job runner (one attempt per job), a
 * completer (outcomes, batched), a lease keeper (heartbeats, renewals, rescue) and maintenance
 * services (pruning); this class starts, stops and wires them.
 *
 * @example
 * const worker = new Worker({ agents: { greet: async ({ who }) => ({ hello: who }) }, maxConcurrentJobs: 8 });
 * await worker.start();
 * process.on('SIGTERM', () => worker.stop());
 */
export class Worker extends EventEmitter {
  readonly id: string;
  /** The schema of the taiat instance this worker serves. */
  readonly schema: string;
  readonly #opts: ResolvedWorkerOptions;
  readonly #log: Logger;
  readonly #survival = new SurvivalLog(() => this.#log);
  readonly #t: SchemaNames;
  #lifecycle: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #pools: Pools | undefined;
  #producer: Producer | undefined;
  readonly #runner: JobRunner;
  #completer: Completer | undefined;
  #leases: LeaseKeeper | undefined;
  #maintenance: Maintenance | undefined;
  #idleWaiters: (() => void)[] = [];
  #unlisten: (() => Promise<void>)[] = [];
  #warnedUndropped = false;

  constructor(options: WorkerOptions = {}) {
    super();
    this.#opts = resolveWorkerOptions(options);
    this.id = this.#opts.workerId;
    this.schema = this.#opts.schema;
    this.#t = schemaNames(this.schema);
    this.#log = (this.#opts.logger ?? pino({ level: 'silent' })).child({ workerId: this.id });
    this.#runner = new JobRunner(
      { agents: this.#opts.agents, executors: this.#opts.executors, backoff: this.#opts.retryBackoff },
      this.#log,
      {
        createChildren: (parentId, children, traceContext) => this.#createChildren(parentId, children, traceContext),
        writeProgress: (job, progress) => writeProgress(this.#pools!.main.sql, this.#t, { jobId: job.id, workerId: this.id, attempt: job.attempts, step: job.step }, progress),
        started: (job, readyAt) => this.emit('job:started', job, readyAt),
        finished: (outcome, log) => {
          if (outcome) this.#completer!.record(outcome, log);
          this.#producer!.fillSlots();
          this.#producer!.nudge(false);
        },
      },
    );
  }

  /** Connects, registers the worker, listens for notifications, and starts claiming. */
  async start(): Promise<void> {
    if (this.#lifecycle !== 'new') throw new TaiatError('TAIAT_INVALID_STATE', 'a worker can be started once');
    const url = resolveDatabaseUrl({ explicit: this.#opts.databaseUrl });
    const tracing = await loadTracing(this.#opts.tracing);
    this.#runner.trace(tracing, this.id);
    const applicationName = `taiat worker ${this.id}`.slice(0, 63);
    const pools = openPools(url, this.#opts, applicationName);
    this.#pools = pools;
    this.#assemble(pools, tracing);
    try {
      await retryWhileUnreachable(
        () => this.#connect(pools),
        this.#opts.startupTimeout * 1000,
        (error, waitMs) => this.#log.warn({ err: translateDatabaseError(error, url), retryInMs: waitMs }, 'database unreachable at start-up; trying again'),
        () => this.#lifecycle !== 'new',
      );
    } catch (error) {
      await closePools(pools);
      this.#lifecycle = 'stopped';
      throw translateDatabaseError(error, url);
    }
    this.#lifecycle = 'running';
    this.#leases!.start();
    this.#maintenance!.start();
    this.#log.info({
      version: VERSION, database: redactUrl(url), queues: this.#opts.queues, concurrency: this.#opts.maxConcurrentJobs, schema: this.schema,
      agents: Object.keys(this.#opts.agents).sort(), executors: this.#opts.executors.length,
    }, 'worker started');
    // Survived (the lease keeper rescues every half lease): a connection lost here ended the process.
    await this.#leases!.rescue().catch((error: unknown) => this.#survive(error));
    // Nothing to run, nothing claimed (each job would fail for good); schedules and upkeep still run.
    if (this.#opts.executors.length === 0 && Object.keys(this.#opts.agents).length === 0) {
      this.#log.warn('no agents or executors are registered: this worker claims no jobs (it runs schedules and upkeep only; see --agents)');
    } else {
      this.#producer!.start();
    }
  }

  /** Checks the schema, registers, listens, records what its modules declare; on failure listens no more (start retries). */
  async #connect(pools: Pools): Promise<void> {
    // Together: each opens a connection of its own, and in sequence their handshakes were most
    // of a worker's start-up time.
    const [missing, beat] = await Promise.allSettled([missingRelations(pools.main.sql, this.#t), this.#leases!.heartbeat()]);
    // A missing schema explains the other failure: it is the error to report.
    if (missing.status === 'fulfilled' && missing.value.length > 0) throw new SchemaNotCurrentError(missing.value, this.#t.schema);
    if (missing.status === 'rejected') throw missing.reason;
    if (beat.status === 'rejected') throw beat.reason;
    // Only once the database answers: postgres.js retries a listen that failed to connect on a
    // back-off of its own, and a start-up retry's listen waited on it for a minute and more.
    try {
      this.#unlisten = await listenForNotifications(pools, this.#t, this.#opts, this.#log, {
        ready: (queue) => {
          if (this.#opts.queues.includes(queue)) this.#producer!.nudge(true);
        },
        cancel: (jobId) => this.#abort(jobId, 'cancelled'),
      });
      // Also with none: a worker id reused by a process declaring none must not keep the old list.
      await Promise.all([syncModuleSchedules(pools.main.sql, this.#t, this.id, this.#opts.schedules), applyQueueDeclarations(pools.main.sql, this.#t, this.#opts.queueLimits)]);
    } catch (error) {
      await Promise.allSettled(this.#unlisten.splice(0).map((u) => u()));
      throw error;
    }
  }

  /** Builds the parts that need the pools, wired to each other through the worker. */
  #assemble(pools: Pools, tracing: Tracing): void {
    const o = this.#opts;
    const survive = (error: unknown) => this.#survive(error);
    this.#producer = new Producer({ claims: pools.claims.sql, reads: pools.main.sql }, { ...o, t: this.#t }, {
      freeSlots: () => o.maxConcurrentJobs - this.#runner.size,
      start: (queued) => this.#runner.run(queued),
      release: (job) => this.#completer!.record({ kind: 'released', job }, () => this.#log.child(jobLogFields(job))),
      quiet: () => this.#quiet(),
      claimed: (jobs) => this.emit('worker:claimed', jobs),
      survive,
    });
    this.#completer = new Completer(
      pools.main.sql,
      // An outcome write may take two leases (at least 10 s) before it is sent again.
      { t: this.#t, workerId: this.id, batchSize: o.completionBatchSize, writeDeadlineMs: Math.max(10, 2 * o.leaseSeconds) * 1000, leaseSeconds: o.leaseSeconds, log: this.#log, tracing },
      {
        // Wake when the earliest retry this worker scheduled is due, rather than at the next poll.
        written: (batch, written) => this.#producer!.wakeIn(emitWritten(this, batch, written, this.#log)),
        mayHaveMadeReady: () => this.#producer!.mayHaveMore(),
        outboxEmptied: () => this.#producer!.nudge(false),
        handOver: this.#producer,
        survive,
      },
    );
    this.#leases = new LeaseKeeper(
      pools.claims.sql,
      pools.main,
      { id: this.id, queues: o.queues, concurrency: o.maxConcurrentJobs, heartbeatSeconds: o.heartbeatInterval, agents: Object.keys(o.agents).sort() },
      { t: this.#t, leaseSeconds: o.leaseSeconds, heartbeatInterval: o.heartbeatInterval, backoff: o.retryBackoff },
      this.#log,
      {
        heldIds: () => [...this.#runner.ids(), ...this.#producer!.queuedIds()],
        holds: (jobId) => this.#runner.has(jobId) || this.#producer!.isQueued(jobId),
        writingIds: () => this.#completer!.pendingIds(),
        abort: (jobId, reason) => this.#abort(jobId, reason),
        recovered: (jobId, outcome) => this.emit('job:recovered', jobId, outcome),
        reachable: () => this.#survival.reachable(),
        // Jobs taken back from a lost worker run when their retry falls due, not at the next poll.
        mayHaveMadeReady: (retryInSeconds) => (this.#producer!.nudge(true), this.#producer!.wakeIn(retryInSeconds)),
        survive,
      },
    );
    const services: MaintenanceService[] = scheduleServices(pools.main, this.#t, o.runSchedules, this.#log);
    services.push(historyPartitionService(pools.main, this.#t, this.#log));
    if (o.pruneIntervalHours > 0) {
      services.push({ name: 'prune history', intervalSeconds: o.pruneIntervalHours * 3600, run: () => this.pruneHistory() });
    }
    this.#maintenance = new Maintenance(services, survive);
  }

  /**
   * Stops gracefully: no more claims; running jobs get `shutdownTimeout` seconds to finish, then
   * their signals abort and they go back to pending without counting an attempt; outcomes are
   * written; the worker row is marked stopped; the pool closes.
   */
  async stop(): Promise<void> {
    if (this.#lifecycle === 'stopped' || this.#lifecycle === 'new') {
      this.#lifecycle = 'stopped';
      return;
    }
    if (this.#lifecycle === 'stopping') return new Promise((resolve) => this.once('worker:stopped', resolve));
    this.#lifecycle = 'stopping';
    this.#log.info({ running: this.#runner.size }, 'worker stopping');
    this.#maintenance!.stop();
    this.#producer!.stop();
    const finished = this.#runner.allDone();
    const graceful = await Promise.race([finished.then(() => true), sleep(this.#opts.shutdownTimeout * 1000).then(() => false)]);
    if (!graceful) for (const id of [...this.#runner.ids()]) this.#abort(id, 'shutdown');
    await finished;
    await this.#producer!.ended();
    await this.#completer!.flush(3);
    // Heartbeats go on until here: the jobs finishing in the grace period, and the outcomes being
    // written, stay leased; stopped earlier, a job running past its lease was taken back and run
    // again elsewhere while it still ran here.
    await this.#leases!.stop();
    const pools = this.#pools!;
    try {
      await Promise.all(this.#unlisten.map((u) => u()));
      await markWorkerStopped(pools.main.sql, this.#t, this.id);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not mark the worker stopped');
    }
    await closePools(pools);
    this.#lifecycle = 'stopped';
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    this.#log.info('worker stopped');
    this.emit('worker:stopped');
  }

  /** Resolves when no ready job is left, nothing runs, and every outcome is written (`--once`). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#producer?.nudge(true);
    });
  }

  /** @internal The worker's pool (metrics read queue gauges through it). */
  get sql(): Connection['sql'] {
    if (!this.#pools) throw new TaiatError('TAIAT_INVALID_STATE', 'the worker is not started');
    return this.#pools.main.sql;
  }

  /** Number of jobs this worker is running now. */
  get runningCount(): number {
    return this.#runner.size;
  }

  /** Deletes history past the retention, unless another worker is at it. Returns rows deleted, or null. */
  async pruneHistory(): Promise<number | null> {
    if (!this.#pools || this.#lifecycle === 'stopped') throw new TaiatError('TAIAT_INVALID_STATE', 'pruneHistory needs a started worker');
    const deleted = await pruneHistoryUnlessBusy(this.#pools.main, this.#t, this.#opts.historyRetentionDays, undefined, (partitions, code) => {
      // Once: every prune after would say the same until the owner (or a quieter moment) drops them.
      if (!this.#warnedUndropped) this.#log.warn({ partitions, code }, 'expired history partitions could not be dropped; their rows are deleted in batches instead (see docs/operations.md)');
      this.#warnedUndropped = true;
    });
    if (deleted !== null) this.#log.info({ deleted, retentionDays: this.#opts.historyRetentionDays }, 'history pruned');
    return deleted;
  }

  #survive(error: unknown): void {
    this.emit('worker:error', this.#survival.survived(error, translateDatabaseError(error, this.#pools?.main.url ?? '') as Error));
  }

  /** Nothing queued and nothing more to claim: idle, once nothing runs and every outcome is written. */
  #quiet(): void {
    if (this.#runner.size === 0 && this.#completer!.idle) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** `ctx.createJobs`: children of `parentId`, committed at once whatever the parent's outcome. */
  async #createChildren(parentId: string, children: NewJob[], traceContext: string | null): Promise<Job[]> {
    const pool = this.#pools!.main;
    return createJobsFromInput(pool.sql, this.#t, children, DEFAULT_LIMITS, { parentId, traceContext }).catch((error: unknown) => {
      throw translateDatabaseError(error, pool.url);
    });
  }

  #abort(jobId: string, reason: JobAbortReason): void {
    const queued = this.#producer?.take(jobId);
    if (queued) {
      // Claimed but not started: it never ran, so a shutdown or a cancel settles it here.
      const log = () => this.#log.child(jobLogFields(queued));
      if (reason === 'cancelled') this.#completer!.record({ kind: 'cancelled', job: queued, error: 'cancelled by request before it started' }, log);
      else if (reason === 'shutdown') this.#completer!.record({ kind: 'released', job: queued }, log);
      return;
    }
    this.#runner.abort(jobId, reason);
  }
}
