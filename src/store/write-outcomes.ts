import type { Sql } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import { claimLimitedJobs } from './claim-jobs.js';
import { cascadeFailure } from './cascade.js';
import { releaseDependents } from './dependencies.js';
import { moveToHistory, type FinalOutcome } from './move-to-history.js';
import { notifyReady } from './notify.js';
import { returnToPending, type PendingReturn } from './return-to-pending.js';
import { waitForJobs, type WaitingJob } from './wait-for.js';
import type { SchemaNames } from './schema-names.js';

/** What a write of outcomes did. */
export interface OutcomesWritten {
  /** Ids whose outcome was written (a job whose lease was lost to a rescuer is not). */
  ids: Set<string>;
  /** Whether the batch may have made jobs ready (dependents released, jobs back to pending, places freed under limits). */
  readyMayExist: boolean;
  /** Jobs of the freed queues claimed in the same transaction (`claim`: the hand-over). */
  claimed: Job[];
}

/** The hand-over: claim up to `limit` jobs of the freed queues, under a lease of `leaseSeconds`. */
export interface ClaimAfterOutcomes {
  limit: number;
  leaseSeconds: number;
}

/**
 * Writes a batch of outcomes in one transaction, each guarded by this worker's lease: finished
 * jobs move to history, retries and releases go back to pending, dependents of completed jobs
 * are released and dependents of failed or cancelled ones cancelled. `readyMayExist` lets the
 * claim loop look again without waiting for the NOTIFY to arrive. `freedQueues`: queues with
 * flow control whose jobs are in the batch; each leaves running, so a place frees under their
 * limits, and every worker of those queues is told at commit (no other event would say so).
 * `claim` takes the freed places for this worker first, in the same transaction (after every
 * other lock it takes, so it waits for a queue's row holding none a claimer of it could want);
 * only a queue with places left over is announced.
 */
export async function writeOutcomes(
  sql: Sql, t: SchemaNames, workerId: string, outcomes: AttemptOutcome[], freedQueues: string[] = [], claim?: ClaimAfterOutcomes,
): Promise<OutcomesWritten> {
  const finals: FinalOutcome[] = [];
  const returns: PendingReturn[] = [];
  const waits: WaitingJob[] = [];
  for (const o of outcomes) {
    switch (o.kind) {
      case 'completed':
        finals.push({ id: o.job.id, status: 'completed', result: o.result, traceContext: o.traceContext });
        break;
      case 'failed':
        if (o.retryInSeconds === null) finals.push({ id: o.job.id, status: 'failed', errorMessage: o.error, attemptError: o.error, traceContext: o.traceContext });
        else returns.push({ id: o.job.id, kind: 'retry', delaySeconds: o.retryInSeconds, error: o.error });
        break;
      case 'cancelled':
        finals.push({ id: o.job.id, status: 'cancelled', errorMessage: o.error, traceContext: o.traceContext });
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
    const waited = await waitForJobs(tx, t, waits, workerId);
    finals.push(...waited.failed);
    const moved = await moveToHistory(tx, t, finals, guard);
    const returned = await returnToPending(tx, t, returns, guard);
    const released = await releaseDependents(tx, t, moved.filter((m) => m.status === 'completed' && m.has_dependents).map((m) => m.id));
    const failed = moved.filter((m) => m.status !== 'completed' && m.has_dependents);
    await cascadeFailure(tx, t, failed.map((m) => ({ id: m.id, name: m.name, status: m.status as 'failed' | 'cancelled', parentId: m.parent_id })));
    const claimed = !claim ? [] : await claimLimitedJobs(tx, t, workerId, freedQueues, claim.limit, claim.leaseSeconds);
    const left = freedQueues.filter((q) => countBy(claimed, q) < countBy(outcomes, q));
    await notifyReady(tx, t, left);
    return {
      ids: new Set([...moved.map((m) => m.id), ...returned, ...waited.waiting]),
      readyMayExist: released > 0 || returned.length > 0 || waited.waiting.length > 0 || left.length > 0,
      claimed,
    };
  });
}

/** How many of `items` are of `queue`'s jobs. */
function countBy(items: readonly (Job | AttemptOutcome)[], queue: string): number {
  let n = 0;
  for (const item of items) if (('job' in item ? item.job : item).queue === queue) n++;
  return n;
}
