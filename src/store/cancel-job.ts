import type { Tx } from '../db/connection.js';
import { InvalidStateError, JobNotFoundError } from '../errors.js';
import { cascadeFailure } from './cascade.js';
import { moveToHistory } from './move-to-history.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Cancels a job in the caller's transaction. A pending job moves to history as `cancelled`, and
 * so does every job that depends on it; a running one is flagged and its worker notified (it
 * aborts the attempt). Throws `JobNotFoundError`, or `InvalidStateError` for a finished job.
 */
export async function cancelJob(tx: Tx, t: SchemaNames, jobId: string): Promise<void> {
  const [live] = await tx<{ status: string; name: string; parent_id: string | null }[]>`
    SELECT status, name, parent_id FROM ${tx(t.jobs)} WHERE id = ${jobId} FOR UPDATE`;
  if (!live) {
    const [done] = await tx<{ status: string }[]>`SELECT status FROM ${tx(t.history)} WHERE job_id = ${jobId}`;
    if (!done) throw new JobNotFoundError(jobId);
    throw new InvalidStateError(jobId, done.status, `job ${jobId} already finished (${done.status}); only pending or running jobs can be cancelled`);
  }
  if (live.status === 'running') {
    await tx`UPDATE ${tx(t.jobs)} SET cancel_requested_at = now(), updated_at = now() WHERE id = ${jobId}`;
    await tx`SELECT pg_notify(${t.cancelChannel}, ${jobId})`;
    return;
  }
  await moveToHistory(tx, t, [{ id: jobId, status: 'cancelled', errorMessage: 'cancelled by request' }], { pending: true });
  await cascadeFailure(tx, t, [{ id: jobId, name: live.name, status: 'cancelled', parentId: live.parent_id }]);
}
