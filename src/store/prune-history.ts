import type { Connection } from '../db/connection.js';
import { dropPartition, partitionNames, readHistoryPartitioning } from './history-partitions.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Deletes one batch of history rows that finished more than `days` days ago, with the unique
 * keys they held and the keys whose time is up, and one batch of schedule ticks as old (each
 * schedule keeps its latest, which status reports; a tick before the schedule's next one is never
 * claimed again, so its row is no longer needed to make it happen once); under the prune lock
 * (tried, not waited for, and held only for this statement) when `locked`. Returns whether it
 * ran, the history rows it deleted, and whether a table had more to delete than one batch.
 */
async function deleteBatch(conn: Connection, t: SchemaNames, target: string, days: number, batchSize: number, locked: boolean) {
  const { sql } = conn;
  const [row] = await sql<{ ran: boolean; n: number; more: boolean }[]>`
    WITH lock AS (
      SELECT CASE WHEN ${locked}::boolean THEN pg_try_advisory_xact_lock(${t.lockKey('prune')}::bigint) ELSE true END AS ran
    ), deleted AS (
      -- By job_id, which is indexed (id is not since 000002): by id, each batch read all of history.
      DELETE FROM ${sql(target)} WHERE (SELECT ran FROM lock) AND job_id IN (
        SELECT job_id FROM ${sql(target)}
         WHERE completed_at < now() - make_interval(secs => ${days * 86400}::float8)
         LIMIT ${batchSize})
      RETURNING job_id
    ), keys AS (
      DELETE FROM ${sql(t.uniqueKeys)}
       WHERE (SELECT ran FROM lock) AND (job_id IN (SELECT job_id FROM deleted) OR until <= now())
    ), ticks AS (
      DELETE FROM ${sql(t.scheduleTicks)} WHERE (SELECT ran FROM lock) AND (schedule_id, tick_at) IN (
        SELECT k.schedule_id, k.tick_at FROM ${sql(t.scheduleTicks)} k JOIN ${sql(t.schedules)} s ON s.id = k.schedule_id
         WHERE k.tick_at < now() - make_interval(secs => ${days * 86400}::float8) AND k.tick_at < s.next_tick_at
           AND EXISTS (SELECT 1 FROM ${sql(t.scheduleTicks)} l WHERE l.schedule_id = k.schedule_id AND l.tick_at > k.tick_at)
         LIMIT ${batchSize})
      RETURNING 1
    )
    SELECT (SELECT ran FROM lock) AS ran, (SELECT count(*)::int FROM deleted) AS n,
           greatest((SELECT count(*) FROM deleted), (SELECT count(*) FROM ticks)) >= ${batchSize} AS more`;
  return row!;
}

/** Partitions a prune could not drop (`55P03`: not granted in time; `42501`: not the owner); their expired rows were deleted in batches instead. */
export type OnUndropped = (partitions: string[], code: string) => void;

/**
 * The whole prune. A plain history is deleted from in batches. A partitioned one first drops every
 * partition whose rows all finished before the cutoff (a catalog change, whatever its size), then
 * deletes in batches from the two partitions that are not one period long: the former
 * unpartitioned table until its bound expires too, and the default; and from the expired ones it
 * could not drop (a lock not granted in time, a role that is not the owner: DELETE is allowed
 * where DROP is not), which `onUndropped` is told. Rows of the period partition straddling the
 * cutoff wait for their partition to expire (at most one period longer). Returns the rows
 * removed, or null when `locked` and another process held the prune lock at the start.
 */
async function prune(
  conn: Connection, t: SchemaNames, days: number, batchSize: number, locked: boolean, onProgress: (n: number) => void, onUndropped: OnUndropped,
): Promise<number | null> {
  let total = 0;
  let targets = [t.history];
  const state = await readHistoryPartitioning(conn.sql, t);
  if (state) {
    const [row] = await conn.sql<{ cutoff: Date }[]>`SELECT now() - make_interval(secs => ${days * 86400}::float8) AS cutoff`;
    const cutoff = row!.cutoff;
    const expired = state.partitions.filter((p) => p.to !== null && p.to <= cutoff).map((p) => p.name);
    const undropped: string[] = [];
    let refusal = '';
    for (const [i, name] of expired.entries()) {
      const dropped = await dropPartition(conn.sql, t, name, locked);
      if (dropped === null) return total === 0 ? null : total;
      if (typeof dropped === 'string') {
        // The next one would most likely wait as long, or be refused as well: the rest are deleted from.
        undropped.push(...expired.slice(i));
        refusal = dropped;
        break;
      }
      total += dropped;
      onProgress(total);
    }
    const names = partitionNames(t);
    targets = [names.unpartitioned, names.default].filter((n) => state.partitions.some((p) => p.name === n) && !expired.includes(n));
    targets.push(...undropped);
    if (undropped.length > 0) onUndropped(undropped, refusal);
    if (targets.length === 0) targets = [t.history];
  }
  for (const [i, target] of targets.entries()) {
    for (let batch = 0; ; batch++) {
      const { ran, n, more } = await deleteBatch(conn, t, target, days, batchSize, locked);
      if (!ran) return total === 0 && i === 0 && batch === 0 ? null : total;
      total += n;
      onProgress(total);
      if (!more) break;
    }
  }
  return total;
}

/**
 * Deletes history rows that finished more than `days` days ago: whole partitions of a partitioned
 * history, else `batchSize` rows per statement (each its own short transaction, so nothing waits
 * long on it). Returns the number removed.
 */
export async function pruneHistory(
  conn: Connection,
  t: SchemaNames,
  days: number,
  batchSize: number,
  onProgress: (deleted: number) => void = () => {},
  onUndropped: OnUndropped = () => {},
): Promise<number> {
  return (await prune(conn, t, days, batchSize, false, onProgress, onUndropped))!;
}

/**
 * `pruneHistory`, unless another process is pruning: workers prune on a timer, and one at a time
 * is enough. Each batch (each partition dropped) takes the lock in its own transaction (no
 * connection is held between them); one that does not get it ends the run. Returns the rows
 * removed, or null when another process held the lock at the start.
 */
export async function pruneHistoryUnlessBusy(
  conn: Connection, t: SchemaNames, days: number, batchSize = 5_000, onUndropped: OnUndropped = () => {},
): Promise<number | null> {
  return prune(conn, t, days, batchSize, true, () => {}, onUndropped);
}
