import type { Connection } from '../db/connection.js';
import { retryDelaySeconds } from '../jobs/backoff.js';
import { cascadeFailure } from './cascade.js';
import { moveToHistory } from './move-to-history.js';
import { returnToPending } from './return-to-pending.js';
import type { SchemaNames } from './schema-names.js';

/** The error recorded on an attempt whose worker stopped renewing its lease. */
export const WORKER_LOST = 'worker lost: its lease expired while the job was running';

export interface Rescued {
  retried: string[];
  failed: string[];
  /** When the soonest retry falls due, in seconds (Infinity when none was retried). */
  firstRetryInSeconds: number;
}

/**
 * Takes back jobs whose lease expired (their worker died or lost the database): each goes back
 * to pending as a failed attempt, or fails for good when no retries are left (and its dependents
 * are cancelled). Any worker may run this at any time; SKIP LOCKED keeps two from colliding.
 */
export async function rescueExpiredJobs(conn: Connection, t: SchemaNames, backoff: { base: number; max: number; jitter: number }, limit = 500): Promise<Rescued> {
  return conn.sql.begin(async (tx) => {
    const lost = await tx<{ id: string; name: string; retry_count: number; max_retries: number; retry_delay_seconds: number | null }[]>`
      SELECT id, name, retry_count, max_retries, retry_delay_seconds FROM ${tx(t.jobs)}
       WHERE status = 'running' AND lease_expires_at < now()
       ORDER BY lease_expires_at LIMIT ${limit}
       FOR UPDATE SKIP LOCKED`;
    if (lost.length === 0) return { retried: [], failed: [], firstRetryInSeconds: Infinity };
    const retry = lost.filter((j) => j.retry_count < j.max_retries).map((j) => ({
      id: j.id,
      kind: 'retry' as const,
      error: WORKER_LOST,
      delaySeconds: retryDelaySeconds(j.retry_count, j.retry_delay_seconds ?? backoff.base, backoff.max, backoff.jitter),
    }));
    const fail = lost.filter((j) => j.retry_count >= j.max_retries);
    const retried = await returnToPending(tx, t, retry, { expired: true });
    const moved = await moveToHistory(
      tx,
      t,
      fail.map((j) => ({ id: j.id, status: 'failed', errorMessage: WORKER_LOST, attemptError: WORKER_LOST })),
      { expired: true },
    );
    await cascadeFailure(tx, t, moved.filter((m) => m.has_dependents).map((m) => ({ id: m.id, name: m.name, status: 'failed', parentId: m.parent_id })));
    return { retried, failed: moved.map((m) => m.id), firstRetryInSeconds: Math.min(...retry.map((r) => r.delaySeconds)) };
  });
}
