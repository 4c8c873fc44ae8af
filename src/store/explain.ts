import { progressText } from '../jobs/progress.js';
import type { Sql } from '../db/connection.js';
import type { AllJobsView } from '../db/schema.js';
import type { Job } from '../jobs/model.js';
import { jobFromRow } from './job-row.js';
import { flowHoldOf, type FlowHold } from './flow-hold.js';
import type { SchemaNames } from './schema-names.js';

/** Where a job stands, in one word. */
export type JobState = 'ready' | 'blocked' | 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A job on the path of another: what it is and where it stands. */
export interface JobRef {
  id: string;
  name: string;
  state: JobState;
}

/** Why a job is (not) running, as `jobs.explain(id)` and `taiat job explain` give it. */
export interface Explanation {
  job: Job;
  state: JobState;
  /** One sentence for people. */
  summary: string;
  /** Direct dependencies not completed yet. */
  waitingOn: JobRef[];
  /**
   * The unfinished jobs at the bottom of the chain: transitive dependencies that are not
   * themselves blocked (ready, scheduled or running). What has to happen first.
   */
  rootCauses: JobRef[];
  /** For a scheduled job: when it may run. */
  runAt: Date | null;
  /**
   * For a running job: the worker holding it, until when its lease runs, and whether that time
   * has passed (the worker stopped renewing it: lost, most likely; a rescue will take the job back).
   */
  lease: { workerId: string; expiresAt: Date; expired: boolean; cancelRequested: boolean } | null;
  /** For a job cancelled or failed because of another job: that job. */
  cause: JobRef | null;
  /** For a ready job: what of its queue's flow control holds it back now (a pause, a limit), if anything does. */
  heldBy: FlowHold | null;
}

/** A job's state from its row (and its live row's `pending_dependencies`, `run_at > now()`). */
export function stateOf(row: { status: string; pending_dependencies: number | null; is_future: boolean }): JobState {
  if (row.status !== 'pending') return row.status as JobState;
  if ((row.pending_dependencies ?? 0) > 0) return 'blocked';
  return row.is_future ? 'scheduled' : 'ready';
}

/** Explains one job; null when the id is unknown. Reads only the job's own dependency chain. */
export async function explainJob(sql: Sql, t: SchemaNames, id: string): Promise<Explanation | null> {
  const [row] = await sql<(AllJobsView & { pending_dependencies: number | null; is_future: boolean; cancel_requested: boolean; lease_expired: boolean })[]>`
    SELECT v.*, j.pending_dependencies, v.run_at > now() AS is_future, j.cancel_requested_at IS NOT NULL AS cancel_requested,
           coalesce(j.lease_expires_at < now(), false) AS lease_expired
      FROM ${sql(t.allJobs)} v LEFT JOIN ${sql(t.jobs)} j ON j.id = v.id WHERE v.id = ${id}`;
  if (!row) return null;
  const job = jobFromRow(row);
  const state = stateOf(row);
  const ref = (r: { id: string; name: string; status: string; pending_dependencies: number | null; run_at: Date; is_future: boolean }): JobRef => ({ id: r.id, name: r.name, state: stateOf(r) });

  let waitingOn: JobRef[] = [];
  let rootCauses: JobRef[] = [];
  if (state === 'blocked') {
    // The unfinished part of the dependency graph below this job (live rows only: finished
    // dependencies are done), depth-limited against pathological graphs.
    const chain = await sql<{ id: string; name: string; status: string; pending_dependencies: number; run_at: Date; is_future: boolean; depth: number }[]>`
      WITH RECURSIVE below(id, depth) AS (
        SELECT d.id, 1 FROM jsonb_array_elements_text(${sql.json(job.dependencies)}::jsonb) AS d(id)
        UNION
        SELECT d.id, b.depth + 1 FROM below b JOIN ${sql(t.jobs)} j ON j.id = b.id
               CROSS JOIN LATERAL jsonb_array_elements_text(j.dependencies) AS d(id)
         WHERE j.pending_dependencies > 0 AND b.depth < 100
      )
      -- By id (= ANY): a join with the recursive part is estimated at thousands of rows and planned
      -- as a hash join over every live job (half a second at a million).
      SELECT j.id, j.name, j.status, j.pending_dependencies, j.run_at, j.run_at > now() AS is_future,
             (SELECT min(b.depth) FROM below b WHERE b.id = j.id) AS depth
        FROM ${sql(t.jobs)} j WHERE j.id = ANY(ARRAY(SELECT id FROM below))
       ORDER BY depth, j.id LIMIT 1000`;
    waitingOn = chain.filter((c) => c.depth === 1).map(ref);
    rootCauses = chain.filter((c) => c.pending_dependencies === 0).map(ref);
  }
  let cause: JobRef | null = null;
  if (row.cause_job_id) {
    const [c] = await sql<{ id: string; name: string; status: string; pending_dependencies: number | null; run_at: Date; is_future: boolean }[]>`
      SELECT v.id, v.name, v.status, j.pending_dependencies, v.run_at, v.run_at > now() AS is_future
        FROM ${sql(t.allJobs)} v LEFT JOIN ${sql(t.jobs)} j ON j.id = v.id WHERE v.id = ${row.cause_job_id}`;
    cause = c ? ref(c) : { id: row.cause_job_id, name: '(pruned from history)', state: 'failed' };
  }
  const heldBy = state === 'ready' ? await flowHoldOf(sql, t, job.queue, job.concurrencyKey) : null;
  const lease = state === 'running' && job.workerId && job.leaseExpiresAt
    ? { workerId: job.workerId, expiresAt: job.leaseExpiresAt, expired: row.lease_expired, cancelRequested: row.cancel_requested }
    : null;
  const names = (refs: JobRef[]) => refs.map((r) => `${r.id} (${r.name}, ${r.state})`).join(', ');
  const summary = ((): string => {
    switch (state) {
      case 'ready':
        if (heldBy) return `ready, but held back: ${heldBy.detail}`;
        return `ready: waiting for a free worker on queue '${job.queue}' (priority ${job.priority}` +
          `${job.concurrencyKey === null ? '' : `, concurrency key '${job.concurrencyKey}'`})`;
      case 'scheduled':
        return `scheduled: will not run before ${job.runAt.toISOString()}${job.retryCount > 0 ? ` (retry ${job.retryCount} of ${job.maxRetries} after: ${job.errorMessage})` : ''}`;
      case 'blocked':
        return `blocked on ${waitingOn.length} unfinished dependenc${waitingOn.length === 1 ? 'y' : 'ies'}: ${names(waitingOn)}; first to finish: ${names(rootCauses)}`;
      case 'running':
        return `running on worker ${lease!.workerId} (attempt ${job.attempts}), ${lease!.expired
          ? `but its lease expired at ${lease!.expiresAt.toISOString()}: the worker is likely lost, and the next rescue (any live worker, every half lease) takes the job back`
          : `lease until ${lease!.expiresAt.toISOString()}`}${lease!.cancelRequested ? '; cancellation requested' : ''}` +
          `${job.progress === null ? '' : `; progress ${progressText(job.progress)}`}`;
      case 'completed':
        return `completed at ${job.completedAt?.toISOString()} after ${job.attempts} attempt(s)`;
      case 'failed':
        return `failed at ${job.completedAt?.toISOString()} after ${job.attempts} attempt(s): ${job.errorMessage}`;
      case 'cancelled':
        return `cancelled at ${job.completedAt?.toISOString()}: ${job.errorMessage}`;
    }
  })();
  return { job, state, summary, waitingOn, rootCauses, runAt: state === 'scheduled' ? job.runAt : null, lease, cause, heldBy };
}
