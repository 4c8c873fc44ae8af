import type { Tx } from '../db/connection.js';
import { lockLiveDependencies, readFinished } from './dependencies.js';
import type { FinalOutcome } from './move-to-history.js';
import { notifyReady } from './notify.js';
import type { SchemaNames } from './schema-names.js';

/** A running job that returned `ctx.waitFor(jobIds)`. */
export interface WaitingJob {
  id: string;
  jobIds: string[];
}

/**
 * Puts waiting jobs back to pending, blocked on the jobs they wait for (appended to their
 * `dependencies`), at the next step with a fresh retry budget. Jobs waited for that already
 * completed count as done; if one failed, was cancelled or does not exist, the waiting job fails
 * instead (returned as a final outcome for the caller to write).
 */
export async function waitForJobs(tx: Tx, t: SchemaNames, waits: WaitingJob[], workerId: string): Promise<{ waiting: string[]; failed: FinalOutcome[] }> {
  if (waits.length === 0) return { waiting: [], failed: [] };
  const all = [...new Set(waits.flatMap((w) => w.jobIds))].sort();
  // The live ones may be completing right now: locked, like a new job's dependencies.
  const live = await lockLiveDependencies(tx, t, all);
  const rest = all.filter((id) => !live.has(id));
  const finished = new Map(rest.length === 0 ? [] : (await readFinished(tx, t, rest)).map((r) => [r.job_id, r]));
  const failed: FinalOutcome[] = [];
  const blocked: { id: string; job_ids: string[]; unfinished: number }[] = [];
  for (const w of waits) {
    const unknown = w.jobIds.find((id) => !live.has(id) && !finished.has(id));
    const bad = w.jobIds.map((id) => finished.get(id)).find((f) => f && f.status !== 'completed');
    if (unknown || bad) {
      const error = unknown ? `waitFor: job ${unknown} does not exist` : `child job ${bad!.job_id} (${bad!.name}) ${bad!.status === 'failed' ? 'failed' : 'was cancelled'}`;
      failed.push({ id: w.id, status: 'failed', errorMessage: error, attemptError: error, causeJobId: bad?.job_id ?? null });
      continue;
    }
    blocked.push({ id: w.id, job_ids: w.jobIds, unfinished: w.jobIds.filter((id) => live.has(id)).length });
  }
  if (blocked.length === 0) return { waiting: [], failed };
  const rows = await tx<{ id: string; queue: string; ready: boolean }[]>`
    UPDATE ${tx(t.jobs)} j
       SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, run_at = now(), progress = NULL,
           dependencies = j.dependencies || (
             SELECT coalesce(jsonb_agg(x), '[]') FROM jsonb_array_elements(w.job_ids) x WHERE NOT j.dependencies @> jsonb_build_array(x)),
           pending_dependencies = w.unfinished, step = j.step + 1, attempts = 0, retry_count = 0,
           updated_at = now()
      FROM jsonb_to_recordset(${tx.json(blocked)}::jsonb) AS w(id text, job_ids jsonb, unfinished int)
     WHERE j.id = ANY(${blocked.map((b) => b.id)}::text[]) AND j.id = w.id AND j.status = 'running' AND j.lease_owner = ${workerId}
    RETURNING j.id, j.queue, w.unfinished = 0 AS ready`;
  await notifyReady(tx, t, rows.filter((r) => r.ready).map((r) => r.queue));
  return { waiting: rows.map((r) => r.id), failed };
}
