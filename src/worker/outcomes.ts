import type { Sql } from '../db/connection.js';
import type { Job, JsonValue } from '../jobs/model.js';
import { cascadeFailure } from '../store/cascade.js';
import { releaseDependents } from '../store/dependencies.js';
import { moveToHistory, type Outcome } from '../store/move-to-history.js';
import { returnToPending, type Return } from '../store/return-to-pending.js';
import { waitForJobs, type Wait } from '../store/wait-for.js';

/** How one attempt ended, as the executor classified it. */
export type AttemptOutcome =
  | { kind: 'completed'; job: Job; result: JsonValue | null }
  /** `retryInSeconds` null: failed for good (retries exhausted, or no executor can run it). */
  | { kind: 'failed'; job: Job; error: string; retryInSeconds: number | null }
  | { kind: 'cancelled'; job: Job; error: string }
  /** Worker shutdown: back to pending, the attempt not counted. */
  | { kind: 'released'; job: Job }
  /** `ctx.waitFor`: back to pending, blocked on these jobs, to run its next step. */
  | { kind: 'waiting'; job: Job; jobIds: string[] };

/**
 * Writes a batch of outcomes in one transaction, each guarded by this worker's lease: finished
 * jobs move to history, retries and releases go back to pending, dependents of completed jobs
 * are released and dependents of failed or cancelled ones cancelled. Returns the ids actually
 * written (a job whose lease was lost to a rescuer is not), and whether jobs may have become ready
 * (so the claim loop looks again without waiting for the NOTIFY to arrive).
 */
export interface Written {
  /** Ids whose outcome was written. */
  ids: Set<string>;
  /** Whether the batch may have made jobs ready (dependents released, jobs back to pending). */
  readyMayExist: boolean;
}

export async function writeOutcomes(sql: Sql, workerId: string, outcomes: AttemptOutcome[]): Promise<Written> {
  const finals: Outcome[] = [];
  const returns: Return[] = [];
  const waits: Wait[] = [];
  for (const o of outcomes) {
    switch (o.kind) {
      case 'completed':
        finals.push({ id: o.job.id, status: 'completed', result: o.result });
        break;
      case 'failed':
        if (o.retryInSeconds === null) finals.push({ id: o.job.id, status: 'failed', errorMessage: o.error, attemptError: o.error });
        else returns.push({ id: o.job.id, kind: 'retry', delaySeconds: o.retryInSeconds, error: o.error });
        break;
      case 'cancelled':
        finals.push({ id: o.job.id, status: 'cancelled', errorMessage: o.error });
        break;
      case 'released':
        returns.push({ id: o.job.id, kind: 'release', delaySeconds: 0 });
        break;
      case 'waiting':
        waits.push({ id: o.job.id, jobIds: o.jobIds });
        break;
    }
  }
  const guard = { workerId };
  return sql.begin(async (tx) => {
    const waited = await waitForJobs(tx, waits, workerId);
    finals.push(...waited.failed);
    const moved = await moveToHistory(tx, finals, guard);
    const returned = await returnToPending(tx, returns, guard);
    const released = await releaseDependents(tx, moved.filter((m) => m.status === 'completed' && m.has_dependents).map((m) => m.id));
    const failed = moved.filter((m) => m.status !== 'completed' && m.has_dependents);
    await cascadeFailure(tx, failed.map((m) => ({ id: m.id, name: m.name, status: m.status as 'failed' | 'cancelled', parentId: m.parent_id })));
    return {
      ids: new Set([...moved.map((m) => m.id), ...returned, ...waited.waiting]),
      readyMayExist: released > 0 || returned.length > 0 || waited.waiting.length > 0,
    };
  });
}
