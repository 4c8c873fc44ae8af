import type { Connection } from '../db/connection.js';
import { cascadeFailure } from '../store/cascade.js';
import { moveToHistory } from '../store/move-to-history.js';
import { deleteHistoryOlderThan } from '../store/prune.js';
import { returnToPending } from '../store/return-to-pending.js';
import { retryDelaySeconds } from '../jobs/backoff.js';

export const WORKER_LOST = 'worker lost: its lease expired while the job was running';

export interface Rescued {
  retried: string[];
  failed: string[];
}

/**
 * Takes back jobs whose lease expired (their worker died or lost the database): each goes back
 * to pending as a failed attempt, or fails for good when no retries are left (and its dependents
 * are cancelled). Any worker may run this at any time; SKIP LOCKED keeps two from colliding.
 */
export async function rescueExpiredJobs(conn: Connection, backoff: { base: number; max: number; jitter: number }, limit = 500): Promise<Rescued> {
  return conn.sql.begin(async (tx) => {
    const lost = await tx<{ id: string; name: string; retry_count: number; max_retries: number; retry_delay_seconds: number | null }[]>`
      SELECT id, name, retry_count, max_retries, retry_delay_seconds FROM taiat_jobs
       WHERE status = 'running' AND lease_expires_at < now()
       ORDER BY lease_expires_at LIMIT ${limit}
       FOR UPDATE SKIP LOCKED`;
    if (lost.length === 0) return { retried: [], failed: [] };
    const retry = lost.filter((j) => j.retry_count < j.max_retries);
    const fail = lost.filter((j) => j.retry_count >= j.max_retries);
    const retried = await returnToPending(
      tx,
      retry.map((j) => ({
        id: j.id,
        kind: 'retry',
        error: WORKER_LOST,
        delaySeconds: retryDelaySeconds(j.retry_count, j.retry_delay_seconds ?? backoff.base, backoff.max, backoff.jitter),
      })),
      { expired: true },
    );
    const moved = await moveToHistory(
      tx,
      fail.map((j) => ({ id: j.id, status: 'failed', errorMessage: WORKER_LOST, attemptError: WORKER_LOST })),
      { expired: true },
    );
    await cascadeFailure(tx, moved.filter((m) => m.has_dependents).map((m) => ({ id: m.id, name: m.name, status: 'failed', parentId: m.parent_id })));
    return { retried, failed: moved.map((m) => m.id) };
  });
}

// One pruner at a time across all workers.
const PRUNE_LOCK_KEY = '7211390';

/**
 * Deletes history older than `days` in small batches, if no other worker is pruning (an
 * advisory lock, tried not waited for). Returns the rows deleted, or null when another held it.
 */
export async function pruneHistory(conn: Connection, days: number, batchSize = 5_000): Promise<number | null> {
  const reserved = await conn.sql.reserve();
  try {
    const [row] = await reserved<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${PRUNE_LOCK_KEY}::bigint) AS locked`;
    if (!row?.locked) return null;
    try {
      return await deleteHistoryOlderThan(conn, days, batchSize);
    } finally {
      await reserved`SELECT pg_advisory_unlock(${PRUNE_LOCK_KEY}::bigint)`;
    }
  } finally {
    reserved.release();
  }
}
