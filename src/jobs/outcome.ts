import type { Job, JsonValue } from './model.js';

/**
 * How one attempt ended, as the job runner classified it; `traceContext` is the attempt's span
 * (tracing on), kept in history with a finished job.
 */
export type AttemptOutcome = { traceContext?: string | null } & (
  | { kind: 'completed'; job: Job; result: JsonValue | null }
  /** `retryInSeconds` null: failed for good (retries exhausted, or no executor can run it). */
  | { kind: 'failed'; job: Job; error: string; retryInSeconds: number | null }
  | { kind: 'cancelled'; job: Job; error: string }
  /** Worker shutdown: back to pending, the attempt not counted. */
  | { kind: 'released'; job: Job }
  /** `ctx.waitFor`: back to pending, blocked on these jobs, to run its next step. */
  | { kind: 'waiting'; job: Job; jobIds: string[] });
