import type { Sql, Tx } from '../db/connection.js';
import type { SchemaNames } from './schema-names.js';

/** Wakes idle workers of these queues when the surrounding transaction commits (at once on a pool). */
export async function notifyReady(tx: Sql | Tx, t: SchemaNames, queues: Iterable<string>): Promise<void> {
  const list = [...new Set(queues)];
  if (list.length === 0) return;
  await tx`SELECT pg_notify(${t.readyChannel}, q) FROM unnest(${list}::text[]) AS q`;
}

/**
 * The end of every create's statement: wake the ready queues' workers when the transaction
 * commits, and let it commit without waiting for its flush when the pool may (durability.ts).
 * The setting is local to the transaction and read when it commits.
 */
export function announceCreated(sql: Sql | Tx, t: SchemaNames, queues: Set<string>, early: boolean) {
  return sql`(SELECT count(pg_notify(${t.readyChannel}, q)) FROM unnest(${[...queues]}::text[]) AS q) AS notified,
             CASE WHEN ${early}::boolean THEN set_config('synchronous_commit', 'off', true) END AS early`;
}
