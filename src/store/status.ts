import type { Selectable } from 'kysely';
import type { Sql } from '../db/connection.js';
import type { WorkersTable } from '../db/schema.js';
import { BLOCKED, READY, READY_SINCE, SCHEDULED } from './fragments.js';
import { queueSettingsColumns, queueStatesFrom, settingsFromRow, type QueueSettingsRow, type QueueState } from './queues.js';
import type { JobProgress } from '../jobs/progress.js';
import type { SchemaNames } from './schema-names.js';

/** Pending and running jobs of one queue and priority. */
export interface QueueCounts {
  queue: string;
  priority: number;
  ready: number;
  blocked: number;
  scheduled: number;
  running: number;
}

/** Live jobs counted by queue and priority: one pass over `taiat_jobs`. */
export function readQueueCounts(sql: Sql, t: SchemaNames): Promise<QueueCounts[]> {
  return sql<QueueCounts[]>`
    SELECT queue, priority,
           count(*) FILTER (WHERE ${sql.unsafe(READY)})::int AS ready,
           count(*) FILTER (WHERE ${sql.unsafe(BLOCKED)})::int AS blocked,
           count(*) FILTER (WHERE ${sql.unsafe(SCHEDULED)})::int AS scheduled,
           count(*) FILTER (WHERE status = 'running')::int AS running
      FROM ${sql(t.jobs)} GROUP BY queue, priority ORDER BY queue, priority DESC`;
}

/** Finished jobs by status since an interval ago: one index-only range scan per status. */
function readFinishedSince(sql: Sql, t: SchemaNames, interval: '1 hour' | '1 day') {
  return sql<{ status: string; n: number }[]>`
    SELECT s.status, (SELECT count(*)::int FROM ${sql(t.history)} h
                       WHERE h.status = s.status AND h.completed_at >= now() - ${interval}::interval) AS n
      FROM unnest(ARRAY['completed', 'failed', 'cancelled']) AS s(status)`;
}

/** A worker's row, with whether its heartbeat is too old and how many jobs it holds. */
export type WorkerRow = Selectable<WorkersTable> & { lost: boolean; jobs: number };

/**
 * A worker is lost once it missed three heartbeats (its own interval). This is the limit for a
 * worker of taiat 0.1, which did not record its interval (10 s by default).
 */
export const LOST_AFTER_SECONDS = 90;

/** Whether the worker row `w` is lost: three of its heartbeat intervals without one. */
const isLost = (sql: Sql, lostAfterSeconds: number) =>
  sql`w.last_heartbeat_at < now() - make_interval(secs => coalesce(3 * w.heartbeat_seconds, ${lostAfterSeconds}))`;
/** The workers that count, alive or lost: not stopped, and heard from within a day. */
const COUNTED_WORKER = `w.stopped_at IS NULL AND w.last_heartbeat_at >= now() - interval '1 day'`;

/** The workers that count (as in `readStatusRows`), live and lost. */
export async function countWorkers(sql: Sql, t: SchemaNames, lostAfterSeconds = LOST_AFTER_SECONDS): Promise<{ live: number; lost: number }> {
  const [row] = await sql<{ live: number; lost: number }[]>`
    SELECT count(*) FILTER (WHERE NOT (${isLost(sql, lostAfterSeconds)}))::int AS live,
           count(*) FILTER (WHERE ${isLost(sql, lostAfterSeconds)})::int AS lost
      FROM ${sql(t.workers)} w WHERE ${sql.unsafe(COUNTED_WORKER)}`;
  return row!;
}

/** Seconds the longest-waiting ready job of each queue has been ready, for the queues with one. */
export function readOldestReadyWaits(sql: Sql, t: SchemaNames): Promise<{ queue: string; seconds: number }[]> {
  return sql<{ queue: string; seconds: number }[]>`
    SELECT queue, extract(epoch FROM now() - min(${sql.unsafe(READY_SINCE)}))::float8 AS seconds
      FROM ${sql(t.jobs)} WHERE ${sql.unsafe(READY)} GROUP BY queue ORDER BY queue`;
}

/**
 * The rows behind `readStatus`: a handful of index-backed queries run at once, no scan of
 * history. A worker is lost after three of its heartbeat intervals without one (`lostAfterSeconds`
 * when it recorded none).
 */
export async function readStatusRows(sql: Sql, t: SchemaNames, lostAfterSeconds = LOST_AFTER_SECONDS) {
  const [queues, running, hour, day, failures, workers, blockedOn, oldest, progress] = await Promise.all([
    readQueueCounts(sql, t),
    sql<{ worker_id: string; jobs: number; oldest: Date; seconds: number }[]>`
      SELECT lease_owner AS worker_id, count(*)::int AS jobs, min(started_at) AS oldest,
             extract(epoch FROM now() - min(started_at))::float8 AS seconds
        FROM ${sql(t.jobs)} WHERE status = 'running' GROUP BY lease_owner ORDER BY oldest`,
    readFinishedSince(sql, t, '1 hour'),
    readFinishedSince(sql, t, '1 day'),
    sql<{ id: string; name: string; job_type: string; error_message: string | null; completed_at: Date; attempts: number }[]>`
      SELECT job_id AS id, name, job_type, error_message, completed_at, attempts FROM ${sql(t.history)}
       WHERE status = 'failed' ORDER BY completed_at DESC LIMIT 10`,
    sql<WorkerRow[]>`
      SELECT w.*, ${isLost(sql, lostAfterSeconds)} AS lost,
             (SELECT count(*)::int FROM ${sql(t.jobs)} j WHERE j.status = 'running' AND j.lease_owner = w.id) AS jobs
        FROM ${sql(t.workers)} w
       WHERE ${sql.unsafe(COUNTED_WORKER)}
       ORDER BY w.started_at`,
    sql<{ job_id: string; name: string; status: string; waiting: number }[]>`
      SELECT d.id AS job_id, j.name, j.status, count(*)::int AS waiting
        FROM (SELECT dependencies FROM ${sql(t.jobs)} WHERE pending_dependencies > 0 ORDER BY created_at LIMIT 10000) b
             CROSS JOIN LATERAL jsonb_array_elements_text(b.dependencies) AS d(id)
             JOIN ${sql(t.jobs)} j ON j.id = d.id
       GROUP BY d.id, j.name, j.status ORDER BY waiting DESC, d.id LIMIT 10`,
    sql<{ seconds: number | null }[]>`
      SELECT extract(epoch FROM now() - min(${sql.unsafe(READY_SINCE)}))::float8 AS seconds FROM ${sql(t.jobs)} WHERE ${sql.unsafe(READY)}`,
    // Running jobs are few (a worker's slots): the partial lease index holds them.
    sql<{ id: string; name: string; worker_id: string; seconds: number; progress: JobProgress }[]>`
      SELECT id, name, lease_owner AS worker_id, extract(epoch FROM now() - started_at)::float8 AS seconds, progress
        FROM ${sql(t.jobs)} WHERE status = 'running' AND progress IS NOT NULL ORDER BY started_at, id LIMIT 10`,
  ]);
  return { queues, running, hour, day, failures, workers, blockedOn, oldestReadySeconds: oldest[0]?.seconds ?? null, progress };
}

type FlowRow = QueueSettingsRow & {
  counts: { key: string | null; ready: number; running: number }[];
  windows: { key: string | null; queue_window: number; key_window: number }[];
};

/**
 * The queues with flow control (paused or limited) and what holds their ready jobs back now, in
 * one statement: per such queue, its ready jobs (the ready index) and running jobs by key, and
 * its claims in the rate windows. Queues without flow control cost nothing; `pending` is left 0.
 */
export async function readFlowControlStates(sql: Sql, t: SchemaNames): Promise<QueueState[]> {
  const rows = await sql<FlowRow[]>`
    SELECT ${queueSettingsColumns(sql, t)},
           coalesce((SELECT json_agg(json_build_object('key', j.key, 'ready', j.ready, 'running', j.running))
                       FROM (SELECT concurrency_key AS key, sum(ready)::int AS ready, sum(running)::int AS running
                               FROM (SELECT concurrency_key, 1 AS ready, 0 AS running FROM ${sql(t.jobs)}
                                      WHERE queue = q.name AND ${sql.unsafe(READY)}
                                     UNION ALL
                                     SELECT concurrency_key, 0, 1 FROM ${sql(t.jobs)} WHERE queue = q.name AND status = 'running') l
                              GROUP BY concurrency_key) j), '[]') AS counts,
           coalesce((SELECT json_agg(json_build_object('key', w.key, 'queue_window', w.queue_window, 'key_window', w.key_window))
                       FROM (SELECT c.concurrency_key AS key,
                                    count(*) FILTER (WHERE c.claimed_at > now() - make_interval(secs => q.rate_period_seconds))::int AS queue_window,
                                    count(*) FILTER (WHERE c.claimed_at > now() - make_interval(secs =>
                                      CASE WHEN o.rate_limit IS NOT NULL THEN o.rate_period_seconds ELSE q.key_rate_period_seconds END))::int AS key_window
                               FROM ${sql(t.rateClaims)} c
                               LEFT JOIN ${sql(t.queueKeys)} o ON o.queue = c.queue AND o.concurrency_key = c.concurrency_key
                              WHERE c.queue = q.name GROUP BY c.concurrency_key) w), '[]') AS windows
      FROM ${sql(t.queues)} q WHERE q.controlled ORDER BY q.name`;
  return queueStatesFrom(
    rows.map((r) => settingsFromRow(r)),
    rows.flatMap((r) => r.counts.map((c) => ({ queue: r.name, key: c.key, pending: 0, ready: c.ready, running: c.running }))),
    rows.flatMap((r) => r.windows.map((w) => ({ queue: r.name, key: w.key, queue_window: w.queue_window, key_window: w.key_window }))),
  );
}
