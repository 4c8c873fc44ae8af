import { jobLogFields } from './job-log.js';
import type { Logger } from 'pino';
import type { Job, JsonValue } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';

/** Events a worker emits, for observers (metrics, tests, UIs). */
export interface WorkerEvents {
  /** `readyAt`: when the job became ready (its creation or `runAt`, or its last dependency's completion if later). */
  'job:started': [job: Job, readyAt: Date];
  'job:completed': [job: Job, result: JsonValue | null];
  /** Failed for good (no retries left, or no executor). */
  'job:failed': [job: Job, error: string];
  'job:retried': [job: Job, error: string, delaySeconds: number];
  'job:cancelled': [job: Job];
  /** Jobs of a lost worker that this worker took back. */
  'job:recovered': [jobId: string, outcome: 'retried' | 'failed'];
  /** A claim was answered: the jobs it took (0: it found none ready). */
  'worker:claimed': [jobs: number];
  /** A database error the worker survived (it retries with backoff). */
  'worker:error': [error: Error];
  /** The worker stopped (after `stop()`). */
  'worker:stopped': [];
}

/** A listener of one of a worker's events. */
export type Listener<E extends keyof WorkerEvents> = (...args: WorkerEvents[E]) => void;

/** What emits a worker's events (the worker; a narrower view keeps this module below it). */
interface EventSink {
  emit<E extends keyof WorkerEvents>(event: E, ...args: WorkerEvents[E]): boolean;
}

/**
 * Emits the events of a written batch of outcomes, and logs one line per finished attempt (job
 * id and name, outcome, attempt, duration; failures at `warn` with their error): only for jobs
 * whose write applied (the others are no longer this worker's). Returns the delay, in seconds,
 * of the earliest retry scheduled (Infinity when none).
 */
export function emitWritten(worker: EventSink, batch: AttemptOutcome[], written: Set<string>, log: Logger): number {
  let retryWake = Infinity;
  const logInfo = log.isLevelEnabled('info');
  const now = Date.now();
  for (const o of batch) {
    if (!written.has(o.job.id)) {
      log.warn({ ...jobLogFields(o.job, o.traceContext), outcome: o.kind }, 'outcome not written: the job is no longer leased by this worker');
      continue;
    }
    const line = () => ({
      ...jobLogFields(o.job, o.traceContext), outcome: o.kind,
      durationMs: o.job.startedAt ? now - o.job.startedAt.getTime() : null,
    });
    switch (o.kind) {
      case 'completed':
        worker.emit('job:completed', o.job, o.result);
        if (logInfo) log.info(line(), 'job completed');
        break;
      case 'failed':
        if (o.retryInSeconds === null) {
          worker.emit('job:failed', o.job, o.error);
          log.warn({ ...line(), error: o.error }, 'job failed');
        } else {
          worker.emit('job:retried', o.job, o.error, o.retryInSeconds);
          log.warn({ ...line(), error: o.error, retryInSeconds: o.retryInSeconds }, 'job attempt failed; it will be retried');
          retryWake = Math.min(retryWake, o.retryInSeconds);
        }
        break;
      case 'cancelled':
        worker.emit('job:cancelled', o.job);
        if (logInfo) log.info(line(), 'job cancelled');
        break;
      case 'released':
      case 'waiting':
        if (logInfo) log.info(line(), o.kind === 'waiting' ? 'job waiting for the jobs it created' : 'job released (not started, or stopped by shutdown)');
        break;
    }
  }
  return retryWake;
}
