import type { Sql, Tx } from '../db/connection.js';
import { nextTick, tickJobs, ticksBetween, ticksToRun, type CatchUp } from '../jobs/schedule.js';
import { validateJobRange, type NewJob } from '../jobs/validation.js';
import { insertJobs } from './insert-jobs.js';
import { insertUniqueJobs } from './insert-unique-jobs.js';
import type { SchemaNames } from './schema-names.js';

interface DueSchedule {
  id: string;
  cron: string | null;
  every_seconds: number | null;
  time_zone: string;
  template: NewJob | NewJob[];
  catch_up: CatchUp;
  catch_up_limit: number;
  next_tick_at: Date;
}

/** What one pass of the scheduler did. */
export interface TicksRun {
  /** Ticks whose jobs were created. */
  ticks: number;
  jobs: number;
  /** Schedules whose tick failed, with the reason (recorded as the schedule's `last_error`). */
  failed: { id: string; error: string }[];
}

/**
 * Runs the ticks that are due: each schedule due is locked (SKIP LOCKED: workers share them
 * out), its due ticks chosen by its catch-up policy, and each tick claimed by inserting its row
 * into taiat_schedule_ticks (its primary key makes a tick happen once, whatever worker, whatever
 * crash) in the transaction that creates its jobs; the schedule's next tick moves on. A tick
 * whose jobs the database refuses is recorded as the schedule's last error and skipped, in a
 * savepoint, so one broken schedule holds up no other.
 */
export async function runDueTicks(sql: Sql, t: SchemaNames, limit = 100): Promise<TicksRun> {
  // Most passes find nothing due: asked without a transaction first.
  const [any] = await sql`SELECT 1 FROM ${sql(t.schedules)} WHERE NOT paused AND next_tick_at <= now() LIMIT 1`;
  if (!any) return { ticks: 0, jobs: 0, failed: [] };
  return sql.begin(async (tx) => {
    const due = await tx<DueSchedule[]>`
      SELECT id, cron, every_seconds, time_zone, template, catch_up, catch_up_limit, next_tick_at
        FROM ${tx(t.schedules)} WHERE NOT paused AND next_tick_at <= now()
       ORDER BY next_tick_at LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
    const run: TicksRun = { ticks: 0, jobs: 0, failed: [] };
    if (due.length === 0) return run;
    const [{ now }] = (await tx<{ now: Date }[]>`SELECT now()`) as unknown as [{ now: Date }];
    for (const s of due) {
      const def = { cron: s.cron, everySeconds: s.every_seconds, timeZone: s.time_zone };
      // next_tick_at is itself due: the ticks from it (inclusive) up to now.
      const ticks = ticksToRun(ticksBetween(def, new Date(s.next_tick_at.getTime() - 1), now, 100_000), s.catch_up, s.catch_up_limit, now);
      let lastTick: Date | null = null;
      let error: string | null = null;
      for (const tick of ticks) {
        try {
          const created = await tx.savepoint((sp) => createTick(sp, t, s.id, tick, s.template, false));
          if (created !== null) {
            run.ticks += 1;
            run.jobs += created.length;
          }
          lastTick = tick;
        } catch (e) {
          error = `tick ${tick.toISOString()}: ${(e as Error).message}`;
          run.failed.push({ id: s.id, error });
        }
      }
      await tx`
        UPDATE ${tx(t.schedules)}
           SET next_tick_at = ${nextTick(def, now)}, last_tick_at = greatest(last_tick_at, ${lastTick}::timestamptz),
               last_error = ${error}, updated_at = now()
         WHERE id = ${s.id}`;
    }
    return run;
  });
}

/**
 * Creates the jobs of one tick of a schedule, claiming the tick first: null when it was claimed
 * already (another worker, an earlier pass). The jobs record the schedule and the tick.
 */
export async function createTick(tx: Tx, t: SchemaNames, scheduleId: string, tick: Date, template: NewJob | NewJob[], manual: boolean): Promise<string[] | null> {
  const [claimed] = await tx<{ claimed: boolean }[]>`
    INSERT INTO ${tx(t.scheduleTicks)} (schedule_id, tick_at, job_ids, manual) VALUES (${scheduleId}, ${tick}, '[]', ${manual})
    ON CONFLICT DO NOTHING RETURNING true AS claimed`;
  if (!claimed) return null;
  const input = tickJobs(scheduleId, tick, template);
  const jobs = validateJobRange(input, 0, input.length).map((j) => ({ ...j, scheduleId, scheduleTick: tick }));
  const mode = { early: false };
  const created = jobs.some((j) => j.uniqueKey !== null) ? await insertUniqueJobs(tx, t, jobs, mode) : await insertJobs(tx, t, jobs, mode);
  const ids = created.map((j) => j.id);
  await tx`UPDATE ${tx(t.scheduleTicks)} SET job_ids = ${tx.json(ids)} WHERE schedule_id = ${scheduleId} AND tick_at = ${tick}`;
  return ids;
}

/**
 * Runs one tick of a schedule now, whatever its timing, paused or not (`triggerSchedule`).
 * Returns the ids of the jobs created, or null when the schedule does not exist.
 */
export async function triggerTick(sql: Sql, t: SchemaNames, scheduleId: string): Promise<string[] | null> {
  return sql.begin(async (tx) => {
    const [s] = await tx<{ template: NewJob | NewJob[]; now: Date }[]>`
      SELECT template, date_trunc('milliseconds', clock_timestamp()) AS now FROM ${tx(t.schedules)} WHERE id = ${scheduleId} FOR UPDATE`;
    if (!s) return null;
    const ids = await createTick(tx, t, scheduleId, s.now, s.template, true);
    await tx`UPDATE ${tx(t.schedules)} SET last_tick_at = greatest(last_tick_at, ${s.now}::timestamptz), last_error = NULL WHERE id = ${scheduleId}`;
    return ids ?? [];
  });
}
