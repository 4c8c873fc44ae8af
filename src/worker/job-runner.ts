import type { Logger } from 'pino';
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import type { NewJob } from '../jobs/validation.js';
import { AttemptAbort } from './attempt-abort.js';
import type { QueuedJob } from './producer.js';
import { runAttempt, type ExecutorRegistry } from './run-attempt.js';
import { WAIT_FOR, type JobAbortReason, type JobContext, type WaitFor } from './types.js';

interface Running {
  job: Job;
  abort: AttemptAbort;
  done: Promise<void>;
}

/** What the job runner needs from the rest of the worker. */
export interface JobRunnerPorts {
  /** `ctx.createJobs`: children of `parentId`. */
  createChildren(parentId: string, children: NewJob[]): Promise<Job[]>;
  started(job: Job): void;
  /** An attempt ended; `outcome` is null when it must not be written (the lease was lost). */
  finished(outcome: AttemptOutcome | null, log: () => Logger): void;
}

/**
 * Runs claimed jobs, one attempt each, and holds the running ones: each gets its context (the
 * job, its dependencies' results, a logger, an abort signal), and its outcome goes to `finished`.
 */
export class JobRunner {
  readonly #registry: ExecutorRegistry;
  readonly #log: Logger;
  readonly #ports: JobRunnerPorts;
  readonly #running = new Map<string, Running>();

  constructor(registry: ExecutorRegistry, log: Logger, ports: JobRunnerPorts) {
    this.#registry = registry;
    this.#log = log;
    this.#ports = ports;
  }

  get size(): number {
    return this.#running.size;
  }

  ids(): IterableIterator<string> {
    return this.#running.keys();
  }

  has(jobId: string): boolean {
    return this.#running.has(jobId);
  }

  /** Starts one attempt of a claimed job. */
  run({ job, dependencyResults }: QueuedJob): void {
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
      dependencyResults,
      createJobs: (children: NewJob[]) => this.#ports.createChildren(job.id, children),
      waitFor: (jobIds: string[]): WaitFor => ({ [WAIT_FOR]: true, jobIds }),
    };
    if (this.#log.isLevelEnabled('debug')) log().debug({ attempt: job.attempts, jobType: job.jobType }, 'job started');
    this.#ports.started(job);
    const done = runAttempt(job, ctx, abort, this.#registry, log).then((outcome) => {
      this.#running.delete(job.id);
      this.#ports.finished(outcome, log);
    });
    this.#running.set(job.id, { job, abort, done });
  }

  /** Aborts a running attempt's signal (once; later reasons are ignored). */
  abort(jobId: string, reason: JobAbortReason): void {
    const running = this.#running.get(jobId);
    if (running && running.abort.reason === undefined) {
      this.#log.info({ jobId, reason }, 'aborting job');
      running.abort.abort(reason);
    }
  }

  /** Resolves when every attempt running now has ended. */
  allDone(): Promise<unknown> {
    return Promise.all([...this.#running.values()].map((r) => r.done));
  }
}
