import type { Sql, Tx } from '../db/connection.js';

/** The channel on which taiat announces that jobs became ready; the payload is the queue name. */
export const READY_CHANNEL = 'taiat_jobs_ready';
/** The channel on which a running job's cancellation is announced; the payload is the job id. */
export const CANCEL_CHANNEL = 'taiat_jobs_cancel';

/** Wakes idle workers of these queues when the surrounding transaction commits. */
export async function notifyReady(tx: Tx, queues: Iterable<string>): Promise<void> {
  const list = [...new Set(queues)];
  if (list.length === 0) return;
  await tx`SELECT pg_notify(${READY_CHANNEL}, q) FROM unnest(${list}::text[]) AS q`;
}

/**
 * The end of every create's statement: wake the ready queues' workers when the transaction
 * commits, and let it commit without waiting for its flush when the pool may (durability.ts).
 * The setting is local to the transaction and read when it commits.
 */
export function announceCreated(sql: Sql | Tx, queues: Set<string>, early: boolean) {
  return sql`(SELECT count(pg_notify(${READY_CHANNEL}, q)) FROM unnest(${[...queues]}::text[]) AS q) AS notified,
             CASE WHEN ${early}::boolean THEN set_config('synchronous_commit', 'off', true) END AS early`;
}
