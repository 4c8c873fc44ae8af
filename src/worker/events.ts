import type { Job, JsonValue } from '../jobs/model.js';

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
