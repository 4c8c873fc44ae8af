import type { Sql } from '../db/connection.js';
import type { JobStatus } from '../jobs/model.js';
import { nextTick, type CatchUp, type ValidatedSchedule } from '../jobs/schedule.js';
import type { NewJob } from '../jobs/validation.js';
import type { SchemaNames } from './schema-names.js';

/** A schedule as stored, with its last tick and how that tick's jobs stand. */
export interface Schedule {
  id: string;
  cron: string | null;
  everySeconds: number | null;
  timeZone: string;
  job: NewJob | NewJob[];
  catchUp: CatchUp;
  catchUpLimit: number;
  paused: boolean;
  /** `api` (the API or the CLI) or `module` (an agents module, synced by workers). */
  source: 'api' | 'module';
  nextTickAt: Date;
  lastTickAt: Date | null;
  /** The jobs of the last tick: `pending` or `running` while any is, else `failed` or `cancelled` if any is, else `completed`; null when there was no tick, or its jobs were pruned. */
  lastOutcome: JobStatus | null;
  lastJobIds: string[];
  /** Why the last tick could not create its jobs, if it could not. */
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface ScheduleRow {
  id: string; cron: string | null; every_seconds: number | null; time_zone: string; template: NewJob | NewJob[];
  catch_up: CatchUp; catch_up_limit: number; paused: boolean; source: 'api' | 'module'; next_tick_at: Date;
  last_tick_at: Date | null; last_error: string | null; created_at: Date; updated_at: Date;
  last_job_ids: string[] | null; statuses: JobStatus[] | null;
}

function outcomeOf(statuses: JobStatus[] | null): JobStatus | null {
  if (!statuses || statuses.length === 0) return null;
  for (const s of ['running', 'pending', 'failed', 'cancelled'] as const) if (statuses.includes(s)) return s;
  return 'completed';
}

function scheduleFromRow(r: ScheduleRow): Schedule {
  return {
    id: r.id, cron: r.cron, everySeconds: r.every_seconds, timeZone: r.time_zone, job: r.template, catchUp: r.catch_up,
    catchUpLimit: r.catch_up_limit, paused: r.paused, source: r.source, nextTickAt: r.next_tick_at, lastTickAt: r.last_tick_at,
    lastOutcome: outcomeOf(r.statuses), lastJobIds: r.last_job_ids ?? [], lastError: r.last_error,
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/**
 * Creates a schedule, or changes it: a changed cron, interval or time zone moves its next tick
 * to the first one from now. Whether it is paused changes only by pause/resume (and a new
 * schedule's own `paused`), so that a worker syncing its modules never resumes a schedule an
 * operator paused.
 */
export async function upsertSchedule(sql: Sql, t: SchemaNames, s: ValidatedSchedule, source: 'api' | 'module'): Promise<void> {
  const next = nextTick(s, new Date());
  await sql`
    INSERT INTO ${sql(t.schedules)} AS s (id, cron, every_seconds, time_zone, template, catch_up, catch_up_limit, paused, source, next_tick_at)
    VALUES (${s.id}, ${s.cron}, ${s.everySeconds}, ${s.timeZone}, ${sql.json(s.template as never)}, ${s.catchUp}, ${s.catchUpLimit},
            ${s.paused}, ${source}, ${next})
    ON CONFLICT (id) DO UPDATE SET
      cron = EXCLUDED.cron, every_seconds = EXCLUDED.every_seconds, time_zone = EXCLUDED.time_zone, template = EXCLUDED.template,
      catch_up = EXCLUDED.catch_up, catch_up_limit = EXCLUDED.catch_up_limit, source = EXCLUDED.source,
      next_tick_at = CASE WHEN (s.cron, s.every_seconds, s.time_zone) IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.every_seconds, EXCLUDED.time_zone)
                          THEN EXCLUDED.next_tick_at ELSE s.next_tick_at END,
      updated_at = now()`;
}

/** Schedules, by id (all, or those named). */
export async function readSchedules(sql: Sql, t: SchemaNames, ids?: string[]): Promise<Schedule[]> {
  const rows = await sql<ScheduleRow[]>`
    SELECT s.*, lt.job_ids AS last_job_ids,
           (SELECT array_agg(a.status) FROM ${sql(t.allJobs)} a
             WHERE a.id IN (SELECT jsonb_array_elements_text(lt.job_ids))) AS statuses
      FROM ${sql(t.schedules)} s
      LEFT JOIN LATERAL (SELECT job_ids FROM ${sql(t.scheduleTicks)} k WHERE k.schedule_id = s.id
                          ORDER BY tick_at DESC LIMIT 1) AS lt ON true
     WHERE ${ids === undefined ? sql`true` : sql`s.id = ANY(${ids}::text[])`}
     ORDER BY s.id`;
  return rows.map(scheduleFromRow);
}

/** Removes a schedule (its tick records go with it; its jobs stay). Returns whether it existed. */
export async function removeSchedule(sql: Sql, t: SchemaNames, id: string): Promise<boolean> {
  return (await sql`DELETE FROM ${sql(t.schedules)} WHERE id = ${id}`).count > 0;
}

/**
 * Pauses or resumes a schedule. Resumed, it runs from its next tick after now: the ticks that
 * fell due while it was paused do not run. Returns whether it exists.
 */
export async function setSchedulePaused(sql: Sql, t: SchemaNames, id: string, paused: boolean): Promise<boolean> {
  const [row] = await sql<{ cron: string | null; every_seconds: number | null; time_zone: string }[]>`
    SELECT cron, every_seconds, time_zone FROM ${sql(t.schedules)} WHERE id = ${id}`;
  if (!row) return false;
  const next = nextTick({ cron: row.cron, everySeconds: row.every_seconds, timeZone: row.time_zone }, new Date());
  await sql`
    UPDATE ${sql(t.schedules)} SET paused = ${paused}, updated_at = now(),
           next_tick_at = CASE WHEN ${paused}::boolean THEN next_tick_at ELSE ${next} END
     WHERE id = ${id}`;
  return true;
}

/** Records the schedules a worker's modules declare, creates or changes them, and removes those no live worker declares. */
export async function syncModuleSchedules(sql: Sql, t: SchemaNames, workerId: string, schedules: ValidatedSchedule[]): Promise<void> {
  for (const s of schedules) await upsertSchedule(sql, t, s, 'module');
  await sql`UPDATE ${sql(t.workers)} SET schedules = ${sql.json(schedules.map((s) => s.id))} WHERE id = ${workerId}`;
  await removeOrphanedModuleSchedules(sql, t);
}

/**
 * Removes the schedules declared by modules that no live worker declares any more (a worker is
 * live while it has not stopped and beat in the last three of its heartbeat intervals). Returns
 * the ids removed.
 */
export async function removeOrphanedModuleSchedules(sql: Sql, t: SchemaNames): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    DELETE FROM ${sql(t.schedules)} s
     WHERE s.source = 'module' AND NOT EXISTS (
       SELECT 1 FROM ${sql(t.workers)} w
        WHERE w.stopped_at IS NULL AND w.schedules ? s.id
          AND w.last_heartbeat_at >= now() - make_interval(secs => 3 * coalesce(w.heartbeat_seconds, 30)))
    RETURNING s.id`;
  return rows.map((r) => r.id);
}
