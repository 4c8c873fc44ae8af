import type { Logger } from 'pino';
import type { Job, JsonObject, JsonValue } from '../jobs/model.js';
import type { NewJob } from '../jobs/validation.js';
import type { AttemptAbort } from './attempt-abort.js';
import { WAIT_FOR, type JobContext, type WaitFor } from './types.js';

/**
 * The `ctx` an executor gets. A class, not an object literal: a literal's own getters
 * (`signal`, `logger`) are defined by a runtime call each, per job, and that context was a fifth
 * of a no-op job's worker CPU (`npm run bench -- --against`). The getters live on the prototype;
 * the methods are own properties bound to the attempt, so an executor may still take them apart
 * (`async (params, { createJobs, logger }) => ...`).
 */
export class AttemptContext implements JobContext {
  readonly job: Job;
  readonly attempt: number;
  readonly dependencyResults: Readonly<Record<string, JsonValue | null>>;
  readonly createJobs: (jobs: NewJob[]) => Promise<Job[]>;
  readonly waitFor = waitFor;
  readonly progress: (value: number | JsonObject, details?: JsonObject) => void;
  readonly #abort: AttemptAbort;
  readonly #log: () => Logger;

  /** `log`: the job's child logger, made on first use. */
  constructor(
    job: Job, dependencyResults: Readonly<Record<string, JsonValue | null>>, abort: AttemptAbort, log: () => Logger,
    createJobs: (jobs: NewJob[]) => Promise<Job[]>, progress: (value: number | JsonObject, details?: JsonObject) => void,
  ) {
    this.job = job;
    this.attempt = job.attempts;
    this.dependencyResults = dependencyResults;
    this.createJobs = createJobs;
    this.progress = progress;
    this.#abort = abort;
    this.#log = log;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get logger(): Logger {
    return this.#log();
  }
}

/** `ctx.waitFor`: one function for every attempt (it reads nothing of the attempt's). */
function waitFor(jobIds: string[]): WaitFor {
  return { [WAIT_FOR]: true, jobIds };
}
