import type { Logger } from 'pino';
import { findJsonProblem, isStorableText, storableText } from '../jobs/json-check.js';
import type { Job, JsonValue } from '../jobs/model.js';
import { retryDelaySeconds } from '../jobs/backoff.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import type { AttemptAbort } from './attempt-abort.js';
import { isWaitFor, type AgentRegistry, type Executor, type JobContext } from './types.js';

/** What a worker can run jobs with, and how it spaces their retries. */
export interface ExecutorRegistry {
  agents: AgentRegistry;
  executors: Executor[];
  backoff: { base: number; max: number; jitter: number };
}

/** The executor for a job: custom executors first (first match wins), then the agent registry. */
function findExecutor(job: Job, registry: ExecutorRegistry): Executor | string {
  for (const executor of registry.executors) if (executor.canExecute(job)) return executor;
  if (job.jobType === 'agent') {
    const name = typeof job.payload.agent_name === 'string' ? job.payload.agent_name : '';
    const agent = Object.hasOwn(registry.agents, name) ? registry.agents[name] : undefined;
    if (!agent) return `no agent named '${name}' is registered (known: ${Object.keys(registry.agents).sort().join(', ') || 'none'})`;
    const parameters = job.payload.parameters;
    return {
      canExecute: () => true,
      execute: (_job, ctx) => agent(parameters && typeof parameters === 'object' && !Array.isArray(parameters) ? parameters : {}, ctx),
    };
  }
  return `no executor can run jobs of type '${job.jobType}'`;
}

function failure(job: Job, error: string, registry: ExecutorRegistry, final = false): AttemptOutcome {
  const retry = !final && job.retryCount < job.maxRetries;
  return {
    kind: 'failed',
    job,
    // A message Postgres refuses would fail the whole outcome batch on every resend.
    error: storableText(error),
    retryInSeconds: retry ? retryDelaySeconds(job.retryCount, job.retryDelaySeconds ?? registry.backoff.base, registry.backoff.max, registry.backoff.jitter) : null,
  };
}

/** Words for whatever an executor threw; never throws itself (a throwing describer would leave the job running). */
function message(error: unknown): string {
  try {
    const text = error instanceof Error ? error.message || error.name : error;
    if (typeof text === 'string') return text;
    return JSON.stringify(text) ?? String(text);
  } catch {
    try {
      return String(error);
    } catch {
      return 'the executor threw a value that cannot be described';
    }
  }
}

/**
 * Runs one attempt and classifies how it ended. Never throws. Resolves as soon as the job's
 * signal aborts (timeout, cancel, shutdown, lost lease), without waiting for an executor that
 * ignores its signal. Returns null when the outcome must not be written (lease lost).
 */
export async function runAttempt(
  job: Job,
  ctx: JobContext,
  abort: AttemptAbort,
  registry: ExecutorRegistry,
  log: () => Logger,
): Promise<AttemptOutcome | null> {
  let executor: Executor | string;
  try {
    executor = findExecutor(job, registry);
  } catch (error) {
    return failure(job, `canExecute threw: ${message(error)}`, registry, true);
  }
  if (typeof executor === 'string') return failure(job, executor, registry, true);

  const timer = job.timeoutSeconds ? setTimeout(() => abort.abort('timeout'), job.timeoutSeconds * 1000) : undefined;
  try {
    const value = await Promise.race([Promise.resolve().then(() => executor.execute(job, ctx)), abort.aborted()]);
    if (isWaitFor(value)) {
      const ids = [...new Set(value.jobIds)];
      if (ids.length === 0 || ids.some((id) => typeof id !== 'string' || id === '')) {
        return failure(job, 'waitFor needs a non-empty list of job ids', registry, true);
      }
      // Postgres refuses such text: sent, it would fail the whole outcome batch on every resend.
      if (!ids.every(isStorableText)) {
        return failure(job, 'waitFor: a job id has a NUL character or a lone surrogate', registry, true);
      }
      if (ids.includes(job.id)) return failure(job, 'waitFor: a job cannot wait for itself', registry, true);
      return { kind: 'waiting', job, jobIds: ids };
    }
    const result = (value === undefined ? null : value) as JsonValue;
    const problem = findJsonProblem(result, 'result');
    if (problem) return failure(job, `the executor returned a value that is not JSON: ${problem[0]}: ${problem[1]}`, registry);
    return { kind: 'completed', job, result };
  } catch (error) {
    if (abort.reason !== undefined) {
      switch (abort.reason) {
        case 'timeout':
          return failure(job, `timed out after ${job.timeoutSeconds}s`, registry);
        case 'cancelled':
          return { kind: 'cancelled', job, error: 'cancelled by request while running' };
        case 'shutdown':
          return { kind: 'released', job };
        case 'lease-lost':
          log().warn({ jobId: job.id }, 'lease lost: another worker took the job back; its outcome here is dropped');
          return null;
      }
    }
    return failure(job, message(error), registry);
  } finally {
    clearTimeout(timer);
    abort.settle();
  }
}
