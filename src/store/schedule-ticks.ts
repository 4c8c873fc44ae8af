import type { Sql, Tx } from '../db/connection.js';
import { nextTick, tickJobs, ticksBetween, ticksToRun, type CatchUp } from '../jobs/schedule.js';
import { validateJobRange, type NewJob, type ValidatedJob } from '../jobs/validation.js';
import { insertJobs } from './insert-jobs.js';
import { insertUniqueJobs } from './insert-unique-jobs.js';
import type { SchemaNames } from './schema-names.js';

interface DueSchedule {
  id: string;
  cron: string | null;
  every_seconds: number | null;
  time_zone: string;
  /** Read only once the schedule is locked. */
  template?: NewJob | NewJob[];
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

/** One tick to run: its schedule, its time, what it creates. */
export interface PlannedTick {
  scheduleId: string;
  tick: Date;
  template: NewJob | NewJob[];
}

/** The most ticks one pass creates: a pass is one transaction, holding its schedules' rows. */
export const TICKS_PER_PASS = 1_000;

/**
 * Runs the ticks that are due: each schedule due is locked (SKIP LOCKED: workers share them
 * out), its due ticks chosen by its catch-up policy, and every tick claimed by inserting its row
 * into taiat_schedule_ticks (its primary key makes a tick happen once, whatever worker, whatever
 * crash) in the transaction that creates its jobs; each schedule's next tick moves on. The ticks
 * of a pass are created together, set-based (a fixed number of statements however many), at most
 * `tickBudget` of them: a schedule with more due leaves its next tick at the first one not run,
 * for the next pass. If the database refuses them together, they are created one at a time, each
 * in a savepoint: a refused tick is recorded as its schedule's last error and skipped, so one
 * broken schedule holds up no other.
 */
export async function runDueTicks(sql: Sql, t: SchemaNames, limit = 200, tickBudget = TICKS_PER_PASS): Promise<TicksRun> {
  // Most passes find nothing due: asked without a transaction first.
  const [any] = await sql`SELECT 1 FROM ${sql(t.schedules)} WHERE NOT paused AND next_tick_at <= now() LIMIT 1`;
  if (!any) return { ticks: 0, jobs: 0, failed: [] };
  return sql.begin(async (tx) => {
    // Planned first without locks, then only the schedules the budget reaches are locked (and
    // read again, locked): a pass locking every due schedule kept the ones beyond its budget from
    // the other workers until it committed.
    const candidates = await tx<DueSchedule[]>`
      SELECT id, cron, every_seconds, time_zone, catch_up, catch_up_limit, next_tick_at
        FROM ${tx(t.schedules)} WHERE NOT paused AND next_tick_at <= now() ORDER BY next_tick_at LIMIT ${limit}`;
    const [{ now: planned0 }] = (await tx<{ now: Date }[]>`SELECT now()`) as unknown as [{ now: Date }];
    const reached = plan(candidates, planned0, tickBudget).map((p) => p.schedule.id);
    const run: TicksRun = { ticks: 0, jobs: 0, failed: [] };
    if (reached.length === 0) return run;
    const due = await tx<DueSchedule[]>`
      SELECT id, cron, every_seconds, time_zone, template, catch_up, catch_up_limit, next_tick_at
        FROM ${tx(t.schedules)} WHERE id = ANY(${[...new Set(reached)]}::text[]) AND NOT paused AND next_tick_at <= now()
       ORDER BY next_tick_at FOR UPDATE SKIP LOCKED`;
    if (due.length === 0) return run;
    const now = planned0;
    const planned: PlannedTick[] = [];
    const next = new Map<string, Date>();
    for (const { schedule: s, taken, following } of plan(due, now, tickBudget)) {
      for (const tick of taken) planned.push({ scheduleId: s.id, tick, template: s.template! });
      next.set(s.id, following);
    }
    const errors = new Map<string, string>();
    let created: Map<PlannedTick, string[]>;
    try {
      created = await tx.savepoint((sp) => createTicks(sp, t, planned, false));
    } catch {
      created = new Map();
      for (const p of planned) {
        try {
          const one = await tx.savepoint((sp) => createTicks(sp, t, [p], false));
          for (const [k, v] of one) created.set(k, v);
        } catch (e) {
          const error = `tick ${p.tick.toISOString()}: ${(e as Error).message}`;
          errors.set(p.scheduleId, error);
          run.failed.push({ id: p.scheduleId, error });
        }
      }
    }
    const lastTick = new Map<string, Date>();
    for (const p of planned) if (!errors.has(p.scheduleId) || created.has(p)) lastTick.set(p.scheduleId, p.tick);
    for (const ids of created.values()) {
      run.ticks += 1;
      run.jobs += ids.length;
    }
    const ids = [...next.keys()];
    await tx`
      UPDATE ${tx(t.schedules)} AS s
         SET next_tick_at = u.next, last_tick_at = greatest(s.last_tick_at, u.last_tick), last_error = u.error, updated_at = now()
        -- Timestamps travel as ISO text: the driver sends an array of Dates as one timestamp.
        FROM unnest(${ids}::text[], ${ids.map((id) => next.get(id)!.toISOString())}::timestamptz[], ${ids.map((id) => lastTick.get(id)?.toISOString() ?? null)}::timestamptz[],
                    ${ids.map((id) => errors.get(id) ?? null)}::text[]) AS u(id, next, last_tick, error)
       WHERE s.id = u.id`;
    return run;
  });
}

/**
 * The ticks each schedule runs now, in order, until `budget` ticks in all: `taken`, and where the
 * schedule goes on (`following`: its next tick, or the first one due that the budget left).
 * Schedules the budget does not reach are left out.
 */
function plan(due: DueSchedule[], now: Date, budget: number) {
  const out: { schedule: DueSchedule; taken: Date[]; following: Date }[] = [];
  let left = budget;
  for (const s of due) {
    if (left <= 0) break;
    const def = { cron: s.cron, everySeconds: s.every_seconds, timeZone: s.time_zone };
    // next_tick_at is itself due: the ticks from it (inclusive) up to now.
    const chosen = ticksToRun(ticksBetween(def, new Date(s.next_tick_at.getTime() - 1), now, 100_000), s.catch_up, s.catch_up_limit, now);
    const taken = chosen.slice(0, left);
    left -= taken.length;
    out.push({ schedule: s, taken, following: taken.length < chosen.length ? chosen[taken.length]! : nextTick(def, now) });
  }
  return out;
}

/**
 * Creates the jobs of ticks, claiming them first, together: one insert claims them all (a tick
 * claimed already, by another worker or an earlier pass, is left out), one create makes the jobs
 * of those claimed, one update records their ids. The jobs record their schedule and tick.
 * Returns the ids created for each tick claimed here.
 */
export async function createTicks(tx: Tx, t: SchemaNames, ticks: PlannedTick[], manual: boolean): Promise<Map<PlannedTick, string[]>> {
  const result = new Map<PlannedTick, string[]>();
  if (ticks.length === 0) return result;
  const claimed = await tx<{ schedule_id: string; tick_at: Date }[]>`
    INSERT INTO ${tx(t.scheduleTicks)} (schedule_id, tick_at, job_ids, manual)
    SELECT u.id, u.tick, '[]', ${manual} FROM unnest(${ticks.map((p) => p.scheduleId)}::text[], ${ticks.map((p) => p.tick.toISOString())}::timestamptz[]) AS u(id, tick)
    ON CONFLICT DO NOTHING RETURNING schedule_id, tick_at`;
  const isClaimed = new Set(claimed.map((c) => `${c.schedule_id}\u0000${c.tick_at.getTime()}`));
  const mine = ticks.filter((p) => isClaimed.has(`${p.scheduleId}\u0000${p.tick.getTime()}`));
  if (mine.length === 0) return result;
  const jobs: ValidatedJob[] = [];
  const spans: [PlannedTick, number, number][] = [];
  for (const p of mine) {
    const input = tickJobs(p.scheduleId, p.tick, p.template);
    spans.push([p, jobs.length, jobs.length + input.length]);
    for (const j of validateJobRange(input, 0, input.length)) jobs.push({ ...j, scheduleId: p.scheduleId, scheduleTick: p.tick });
  }
  const mode = { early: false };
  const created = jobs.some((j) => j.uniqueKey !== null) ? await insertUniqueJobs(tx, t, jobs, mode) : await insertJobs(tx, t, jobs, mode);
  for (const [p, from, to] of spans) result.set(p, created.slice(from, to).map((j) => j.id));
  await tx`
    UPDATE ${tx(t.scheduleTicks)} AS k SET job_ids = u.ids
      FROM jsonb_to_recordset(${JSON.stringify(mine.map((p) => ({ id: p.scheduleId, tick: p.tick.toISOString(), ids: result.get(p) })))}::text::jsonb)
           AS u(id text, tick timestamptz, ids jsonb)
     WHERE k.schedule_id = u.id AND k.tick_at = u.tick`;
  return result;
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
    const tick = { scheduleId, tick: s.now, template: s.template };
    const ids = (await createTicks(tx, t, [tick], true)).get(tick);
    await tx`UPDATE ${tx(t.schedules)} SET last_tick_at = greatest(last_tick_at, ${s.now}::timestamptz), last_error = NULL WHERE id = ${scheduleId}`;
    return ids ?? [];
  });
}
