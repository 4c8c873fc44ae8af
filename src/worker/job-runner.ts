import type { Logger } from 'pino';
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import type { NewJob } from '../jobs/validation.js';
import { NO_TRACING, type Tracing } from '../tracing/tracing.js';
import { AttemptAbort } from './attempt-abort.js';
import { AttemptContext } from './attempt-context.js';
import { jobLogFields } from './job-log.js';
import { ProgressReporter, type ProgressWriter } from './progress-reporter.js';
import type { QueuedJob } from './queued-job.js';
import { runAttempt, type ExecutorRegistry } from './run-attempt.js';
import type { JobAbortReason } from './types.js';

interface Running {
  job: Job;
  abort: AttemptAbort;
  done: Promise<void>;
}

/** What the job runner needs from the rest of the worker. */
export interface JobRunnerPorts {
  /** `ctx.createJobs`: children of `parentId`, in the trace of `traceContext` (the parent's attempt). */
  createChildren(parentId: string, children: NewJob[], traceContext: string | null): Promise<Job[]>;
  writeProgress: ProgressWriter;
  /** An attempt starts; `readyAt`: when the job became ready (its wait ran from there to its claim). */
  started(job: Job, readyAt: Date): void;
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
  #tracing: Tracing = NO_TRACING;
  #workerId = '';

  constructor(registry: ExecutorRegistry, log: Logger, ports: JobRunnerPorts) {
    this.#registry = registry;
    this.#log = log;
    this.#ports = ports;
  }

  /** Traces the attempts started from now on (the worker loads its tracing when it starts). */
  trace(tracing: Tracing, workerId: string): void {
    this.#tracing = tracing;
    this.#workerId = workerId;
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
  run({ job, dependencyResults, dependencyRuns, readyAt }: QueuedJob): void {
    const abort = new AttemptAbort();
    const span = this.#tracing.attempt(job, this.#workerId, dependencyRuns, readyAt);
    // Made when first used, as the job's child logger: most jobs never report progress or log.
    let progress: ProgressReporter | undefined;
    let jobLog: Logger | undefined;
    const log = () => (jobLog ??= this.#log.child({ ...jobLogFields(job), ...span.ids }));
    const ctx = new AttemptContext(
      job, dependencyResults, abort, log,
      (children: NewJob[]) =>
        this.#tracing.create(children, (traceContext) => this.#ports.createChildren(job.id, children, traceContext ?? span.traceparent), span.traceparent),
      (value, details) => (progress ??= new ProgressReporter(job, this.#ports.writeProgress)).report(value, details),
    );
    if (this.#log.isLevelEnabled('debug')) log().debug({ jobType: job.jobType }, 'job started');
    this.#ports.started(job, readyAt);
    const finish = (outcome: AttemptOutcome | null) => {
      span.end(outcome);
      if (outcome && span.traceparent) outcome.traceContext = span.traceparent;
      this.#running.delete(job.id);
      this.#ports.finished(outcome, log);
    };
    // The last progress reported is written before the outcome, which moves the row to history
    // (a job that reported none takes no extra step).
    const done = span.run(() => runAttempt(job, ctx, abort, this.#registry, log))
      .then((outcome) => (progress ? progress.settle().catch(() => undefined).then(() => finish(outcome)) : finish(outcome)));
    this.#running.set(job.id, { job, abort, done });
  }

  /** Aborts a running attempt's signal (once; later reasons are ignored). */
  abort(jobId: string, reason: JobAbortReason): void {
    const running = this.#running.get(jobId);
    if (running && running.abort.reason === undefined) {
      this.#log.info({ ...jobLogFields(running.job), reason }, 'aborting job');
      running.abort.abort(reason);
    }
  }

  /** Resolves when every attempt running now has ended. */
  allDone(): Promise<unknown> {
    return Promise.all([...this.#running.values()].map((r) => r.done));
  }
}

