import { jsonParam, type Tx } from '../db/connection.js';
import type { MoveGuard } from './move-to-history.js';
import { notifyReady } from './notify.js';
import type { SchemaNames } from './schema-names.js';

/** A running job going back to pending. */
export interface PendingReturn {
  id: string;
  /**
   * `retry`: a failed attempt (counted in retry_count, its error recorded); `release`: the
   * attempt did not really happen (worker shutdown) and is not counted.
   */
  kind: 'retry' | 'release';
  /** Seconds before it may run again. */
  delaySeconds: number;
  error?: string | null;
}

/**
 * Puts running jobs back to pending, guarded like `moveToHistory` (this worker's lease, or an
 * expired lease). Jobs that may run at once wake the workers of their queues. Returns the ids
 * written.
 */
export async function returnToPending(tx: Tx, t: SchemaNames, items: PendingReturn[], guard: Exclude<MoveGuard, { pending: true }>): Promise<string[]> {
  if (items.length === 0) return [];
  const kind = 'expired' in guard ? 'expired' : 'lease';
  const workerId = 'workerId' in guard ? guard.workerId : null;
  const data = items.map((i) => ({ id: i.id, retry: i.kind === 'retry', delay: i.delaySeconds, error: i.error ?? null }));
  const rows = await tx<{ id: string; queue: string; ready: boolean }[]>`
    UPDATE ${tx(t.jobs)} j
       SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, progress = NULL,
           run_at = CASE WHEN r.delay > 0 THEN now() + make_interval(secs => r.delay) ELSE j.run_at END,
           retry_count = j.retry_count + CASE WHEN r.retry THEN 1 ELSE 0 END,
           attempts = j.attempts - CASE WHEN r.retry THEN 0 ELSE 1 END,
           error_message = CASE WHEN r.retry THEN r.error ELSE j.error_message END,
           attempt_errors = CASE WHEN r.retry THEN j.attempt_errors || jsonb_build_array(jsonb_build_object(
                              'attempt', j.attempts, 'error', r.error, 'at', now(), 'worker_id', j.lease_owner))
                            ELSE j.attempt_errors END,
           updated_at = now()
      FROM jsonb_to_recordset(${jsonParam(tx, data)}::jsonb) AS r(id text, retry bool, delay float8, error text)
     WHERE j.id = ANY(${items.map((i) => i.id)}::text[]) AND j.id = r.id AND j.status = 'running'
       AND CASE ${kind}::text WHEN 'expired' THEN j.lease_expires_at < now()
                ELSE j.lease_owner = ${workerId}::text END
    RETURNING j.id, j.queue, r.delay <= 0 AS ready`;
  await notifyReady(tx, t, rows.filter((r) => r.ready).map((r) => r.queue));
  return rows.map((r) => r.id);
}
