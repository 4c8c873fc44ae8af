import type { Sql } from '../db/connection.js';
import type { SchemaNames } from './schema-names.js';

/** Minutes this recent are counted from history at each read: an outcome still being written may land in them. */
const SETTLE_MINUTES = 5;

/** Finished jobs in one bucket of time, by status. */
export interface FinishedBucket {
  at: Date;
  completed: number;
  failed: number;
  cancelled: number;
}

/**
 * Rolls up into taiat_finished_minutes the finished jobs of every whole minute that settled since
 * the last roll-up (each minute once: the roll-up is serialised by an advisory lock and starts
 * where the last one stopped), at most the last day. Reads history by completed_at only over
 * minutes not rolled up yet.
 */
export async function rollUpFinishedMinutes(sql: Sql, t: SchemaNames): Promise<void> {
  await sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(${t.lockKey('rollup')}::bigint) AS ok`;
    if (!lock!.ok) return; // another reader is rolling up the same minutes
    await tx`
      WITH bounds AS (
        SELECT greatest(coalesce((SELECT max(minute) + interval '1 minute' FROM ${tx(t.finishedMinutes)}), '-infinity'),
                        date_trunc('minute', now()) - interval '1 day') AS lo,
               date_trunc('minute', now()) - make_interval(mins => ${SETTLE_MINUTES}) AS hi
      ), counted AS (
        SELECT date_trunc('minute', h.completed_at) AS minute, h.status, count(*)::int AS n
          FROM ${tx(t.history)} h, bounds b
         WHERE h.completed_at >= b.lo AND h.completed_at < b.hi
         GROUP BY 1, 2
      ), marker AS (
        -- An empty minute is still rolled up: the next roll-up starts after it.
        SELECT b.hi - interval '1 minute' AS minute, 'completed'::varchar AS status, 0 AS n FROM bounds b WHERE b.hi > b.lo
      )
      INSERT INTO ${tx(t.finishedMinutes)} (minute, status, n)
      SELECT minute, status, n FROM counted
      UNION ALL SELECT minute, status, n FROM marker WHERE NOT EXISTS (SELECT 1 FROM counted c WHERE c.minute = marker.minute AND c.status = 'completed')
      ON CONFLICT (minute, status) DO NOTHING`;
    await tx`DELETE FROM ${tx(t.finishedMinutes)} WHERE minute < now() - interval '8 days'`;
  });
}

/**
 * Finished jobs per bucket (`bucketMinutes` wide) over the last `minutes`: the rolled-up minutes,
 * and the last few minutes counted from history.
 */
export async function readFinishedSeries(sql: Sql, t: SchemaNames, minutes: number, bucketMinutes: number): Promise<FinishedBucket[]> {
  const rows = await sql<{ at: Date; status: string; n: number }[]>`
    WITH since AS (SELECT date_trunc('minute', now()) - make_interval(mins => ${minutes - 1}) AS lo,
                          (SELECT coalesce(max(minute) + interval '1 minute', '-infinity') FROM ${sql(t.finishedMinutes)}) AS rolled),
    per_minute AS (
      SELECT m.minute, m.status, m.n FROM ${sql(t.finishedMinutes)} m, since s WHERE m.minute >= s.lo
      UNION ALL
      SELECT date_trunc('minute', h.completed_at), h.status, count(*)::int FROM ${sql(t.history)} h, since s
       WHERE h.completed_at >= greatest(s.lo, s.rolled) GROUP BY 1, 2
    )
    SELECT to_timestamp(floor(extract(epoch FROM minute) / ${bucketMinutes * 60}) * ${bucketMinutes * 60}) AS at, status, sum(n)::int AS n
      FROM per_minute GROUP BY 1, 2 ORDER BY 1`;
  const buckets = new Map<number, FinishedBucket>();
  const now = Date.now();
  const step = bucketMinutes * 60_000;
  const first = Math.floor((now - (minutes - 1) * 60_000) / step) * step;
  for (let at = first; at <= now; at += step) buckets.set(at, { at: new Date(at), completed: 0, failed: 0, cancelled: 0 });
  for (const r of rows) {
    const b = buckets.get(r.at.getTime());
    if (b && (r.status === 'completed' || r.status === 'failed' || r.status === 'cancelled')) b[r.status] += r.n;
  }
  return [...buckets.values()];
}
