import type { Logger } from 'pino';
import type { Job, JsonObject, JsonValue } from '../jobs/model.js';
import type { AgentParameters } from '../jobs/agent-jobs.js';
import type { NewJob } from '../jobs/validation.js';

/** What an executor or agent gets besides its input. */
export interface JobContext {
  /** The job as claimed (status `running`). */
  readonly job: Job;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  /**
   * Aborted when the job times out, is cancelled, its lease is lost, or the worker shuts down
   * past its grace period. `signal.reason` is a `JobAbortReason`. Executors should honour it:
   * the worker stops waiting for an aborted executor at once.
   */
  readonly signal: AbortSignal;
  /** A pino logger bound to the job id and the worker id. */
  readonly logger: Logger;
  /**
   * Results of the job's completed dependencies, by job id, and also by job name where that
   * name is unique among the dependencies.
   */
  readonly dependencyResults: Readonly<Record<string, JsonValue | null>>;
  /**
   * Creates jobs from inside the executor (children of this job). They are committed at once,
   * whatever this attempt's outcome.
   */
  createJobs(jobs: NewJob[]): Promise<Job[]>;
  /**
   * Returned from an executor: ends this step without holding a slot; the job goes back to
   * pending, blocked on `jobIds`, and runs again (same id, `job.step` + 1) once they completed,
   * with their results in `dependencyResults`. If one fails for good, the job fails.
   */
  waitFor(jobIds: string[]): WaitFor;
  /**
   * Reports progress: a percentage 0-100 (`progress(40)`), a small JSON object
   * (`progress({ step: 'upload' })`), or both (`progress(40, { step: 'upload' })`). Stored on the
   * running job (shown by `taiat job get`, `--status`, `explain`, the dashboard) and kept in
   * history as the last value; written at most once a second per job, the latest value winning.
   * Throws a `ValidationError` for a bad value.
   */
  progress(value: number | JsonObject, details?: JsonObject): void;
}

/** Why a job's signal was aborted. */
export type JobAbortReason = 'timeout' | 'cancelled' | 'shutdown' | 'lease-lost';

/** The marker an executor returns to wait for other jobs (see `JobContext.waitFor`). */
export interface WaitFor {
  readonly [WAIT_FOR]: true;
  readonly jobIds: string[];
}
export const WAIT_FOR: unique symbol = Symbol.for('taiat.waitFor');

export function isWaitFor(value: unknown): value is WaitFor {
  return typeof value === 'object' && value !== null && WAIT_FOR in value;
}

/** What an executor or agent may return: a JSON value, `undefined` (stored as null), or `waitFor`. */
export type ExecutorResult = JsonValue | undefined | void | WaitFor;

/** Runs jobs of the kinds it accepts. The first executor whose `canExecute` is true runs a job. */
export interface Executor {
  canExecute(job: Job): boolean;
  execute(job: Job, ctx: JobContext): Promise<ExecutorResult> | ExecutorResult;
}

/**
 * An agent: runs `agent` jobs whose `payload.agent_name` names it, with `payload.parameters`.
 * Written as a method so that an agent typed for its own parameters (`AgentFor`) fits a registry.
 */
export type Agent<P = JsonObject> = {
  agent(parameters: P, ctx: JobContext): Promise<ExecutorResult> | ExecutorResult;
}['agent'];

/** The agent of a name declared in `AgentParameters`, typed for its parameters. */
export type AgentFor<N extends keyof AgentParameters> = Agent<AgentParameters[N]>;

/**
 * Agents by name. A name declared in `AgentParameters` must be given an agent of its parameters:
 * checked as a plain function (not as a method, which TypeScript checks loosely), so that an
 * agent taking other parameters does not compile where it is registered.
 */
export type AgentRegistry = { [N in keyof AgentParameters]?: (parameters: AgentParameters[N], ctx: JobContext) => Promise<ExecutorResult> | ExecutorResult }
  & Record<string, Agent>;
