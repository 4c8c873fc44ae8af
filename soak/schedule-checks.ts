/**
 * The schedules scenario's checks, once the run's records are in the database (runs_eff and
 * created_all built, analysis.ts): each tick recorded once with one job, that job stored once,
 * carrying its schedule and tick, run to completion once (again only for an attempt its worker
 * lost); every pass of the scheduler by its schedule's catch-up rule; no tick missing while a
 * scheduler could run; and how late ticks were created. The windows in which no scheduler could
 * run (no worker alive, Postgres restarting) come from the driver's records of its processes and
 * faults.
 */
import type postgres from 'postgres';
import { iso } from './clock.js';
import { SCHEDULE_COUNT, TICK_SECONDS } from './schedules.js';
import { faults, procs, schedules, violation, type FaultKind } from './state.js';

/** A tick due this long before a window opened may still be missing: its pass was due just then. */
const BEFORE_WINDOW_MS = 1_000;
/**
 * Ticks due this long after a window closed may be skipped by the catch-up: the first pass runs
 * 0.5 s after a worker starts (Postgres: after the restart returns), and takes 100 schedules.
 */
const AFTER_WINDOW_MS = 1_500;
/** Ticks this close to a fault are left out of the lateness figures. */
const QUIET_MS = 3_000;
/** The lateness target: p99 of (tick created - tick due) away from faults. */
export const LATENESS_TARGET_MS = 1_000;

const TICK_MS = TICK_SECONDS * 1_000;
const DB_DOWN: FaultKind[] = ['restart-fast', 'restart-immediate', 'outage'];

interface SqlCheck { name: string; what: string; query: string }

const SQL_CHECKS: SqlCheck[] = [
  {
    name: 'schedule-tick-once',
    what: 'each (schedule, tick) is recorded once in taiat_schedule_ticks, by the clock (no manual tick)',
    query: `
      SELECT NULL AS job_id, format('schedule %s tick %s recorded %s time(s)%s', schedule_id, tick_at, count(*),
             CASE WHEN bool_or(manual) THEN ', manually' ELSE '' END) AS detail
        FROM taiat_schedule_ticks GROUP BY schedule_id, tick_at HAVING count(*) > 1 OR bool_or(manual)`,
  },
  {
    name: 'schedule-tick-one-job',
    what: 'each tick names exactly one job',
    query: `
      SELECT NULL AS job_id, format('schedule %s tick %s names %s', schedule_id, tick_at, job_ids) AS detail
        FROM taiat_schedule_ticks WHERE jsonb_typeof(job_ids) <> 'array' OR jsonb_array_length(job_ids) <> 1`,
  },
  {
    name: 'schedule-tick-job',
    what: "each tick's job is in exactly one of taiat_jobs / taiat_job_history, carries that schedule and tick, and completed",
    query: `
      SELECT t.job_id, format('job of schedule %s tick %s: %s', t.schedule_id, t.tick_at,
             CASE WHEN c.live + c.hist <> 1 THEN format('in taiat_jobs %s time(s), in taiat_job_history %s time(s)', c.live, c.hist)
                  WHEN v.schedule_id IS DISTINCT FROM t.schedule_id OR v.schedule_tick IS DISTINCT FROM t.tick_at
                    THEN format('carries schedule %s tick %s', v.schedule_id, v.schedule_tick)
                  ELSE format('%s (%s)', v.status, v.location) END) AS detail
        FROM tick_jobs t
        CROSS JOIN LATERAL (SELECT (SELECT count(*) FROM taiat_jobs j WHERE j.id = t.job_id) AS live,
                                   (SELECT count(*) FROM taiat_job_history h WHERE h.job_id = t.job_id) AS hist) c
        LEFT JOIN LATERAL (SELECT schedule_id, schedule_tick, status, location FROM taiat_all_jobs v WHERE v.id = t.job_id LIMIT 1) v ON true
       WHERE c.live + c.hist <> 1 OR v.schedule_id IS DISTINCT FROM t.schedule_id OR v.schedule_tick IS DISTINCT FROM t.tick_at
          OR v.status <> 'completed' OR v.location <> 'history'`,
  },
  {
    name: 'schedule-job-once',
    what: "every job carrying a schedule is named by exactly one tick, its own, and no tick has two jobs",
    query: `
      SELECT v.id AS job_id, format('job of schedule %s tick %s is named by %s tick(s)%s', v.schedule_id, v.schedule_tick, count(t.job_id),
             coalesce(': ' || string_agg(t.schedule_id || ' ' || t.tick_at, ', '), '')) AS detail
        FROM taiat_all_jobs v LEFT JOIN tick_jobs t ON t.job_id = v.id
       WHERE v.schedule_id IS NOT NULL
       GROUP BY v.id, v.schedule_id, v.schedule_tick
      HAVING count(t.job_id) <> 1 OR bool_or(t.schedule_id IS DISTINCT FROM v.schedule_id OR t.tick_at IS DISTINCT FROM v.schedule_tick)
      UNION ALL
      SELECT NULL, format('schedule %s tick %s has %s jobs: %s', schedule_id, schedule_tick, count(*), string_agg(id || ' (' || location || ')', ', '))
        FROM taiat_all_jobs WHERE schedule_id IS NOT NULL GROUP BY schedule_id, schedule_tick HAVING count(*) > 1`,
  },
  {
    name: 'schedule-job-ran-once',
    what: "each tick's job ran to completion once: one completed run, of its last attempt; any other run was of an attempt its worker lost (kill -9, lease), or released by a shutdown",
    query: `
      SELECT h.job_id, format('attempts %s, attempt_errors %s; runs: %s', h.attempts, h.attempt_errors,
             coalesce((SELECT string_agg(format('a%s pid %s %s', r.attempt, r.pid, coalesce(r.outcome, r.abort_reason, 'no end, process ' || r.fate)), ', ' ORDER BY r.started_at)
                         FROM runs_eff r WHERE r.job_id = h.job_id), 'none')) AS detail
        FROM taiat_job_history h JOIN tick_jobs t ON t.job_id = h.job_id
       WHERE (SELECT count(*) FROM runs_eff r WHERE r.job_id = h.job_id AND r.outcome = 'completed' AND r.attempt = h.attempts) <> 1
          OR EXISTS (SELECT 1 FROM jsonb_array_elements(h.attempt_errors) e WHERE e->>'error' NOT LIKE 'worker lost%')
          OR EXISTS (SELECT 1 FROM runs_eff r
                      WHERE r.job_id = h.job_id AND NOT (r.outcome = 'completed' AND r.attempt = h.attempts)
                        AND r.abort_reason IS DISTINCT FROM 'shutdown'
                        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(h.attempt_errors) e
                                         WHERE (e->>'attempt')::int = r.attempt AND e->>'error' LIKE 'worker lost%'))`,
  },
  {
    name: 'schedule-run-before-tick',
    what: "no run of a tick's job started before the tick's jobs were created",
    query: `
      SELECT r.job_id, format('run %s started at %s; tick %s of schedule %s was created at %s', r.run_id, r.started_at, t.tick_at, t.schedule_id, t.created_at) AS detail
        FROM runs_eff r JOIN tick_jobs t ON t.job_id = r.job_id WHERE r.started_at < t.created_at`,
  },
  {
    name: 'schedule-catch-up',
    what: "each pass of the scheduler created a schedule's latest due tick, and no more than its catch-up allows (skip, latest: 1; all: its limit); skip: under 60 s late",
    query: `
      SELECT NULL AS job_id, format('schedule %s (%s, limit %s): the pass at %s created %s tick(s), latest %s: %s', k.schedule_id, s.catch_up, s.catch_up_limit,
             k.created_at, count(*), max(k.tick_at), string_agg(k.tick_at::text, ', ' ORDER BY k.tick_at)) AS detail
        FROM taiat_schedule_ticks k JOIN soak_schedules s ON s.id = k.schedule_id
       GROUP BY k.schedule_id, s.catch_up, s.catch_up_limit, k.created_at
      HAVING count(*) > CASE WHEN s.catch_up = 'all' THEN s.catch_up_limit ELSE 1 END
          OR max(k.tick_at) <> date_trunc('second', k.created_at)
          OR (s.catch_up = 'skip' AND k.created_at - max(k.tick_at) > interval '60 s')`,
  },
  {
    name: 'schedule-tick-after-pause',
    what: 'no tick was created after pauseSchedule returned',
    query: `
      SELECT NULL AS job_id, format('schedule %s tick %s created at %s; pauseSchedule returned at %s', k.schedule_id, k.tick_at, k.created_at, s.pause_acked_at) AS detail
        FROM taiat_schedule_ticks k JOIN soak_schedules s ON s.id = k.schedule_id
       WHERE s.pause_acked_at IS NULL OR k.created_at > s.pause_acked_at`,
  },
  {
    name: 'schedule-unknown',
    what: 'every tick and every job carrying a schedule belongs to a schedule the soak declared',
    query: `
      SELECT NULL AS job_id, format('tick %s of schedule %s, which the soak did not declare', tick_at, schedule_id) AS detail
        FROM taiat_schedule_ticks k WHERE NOT EXISTS (SELECT 1 FROM soak_schedules s WHERE s.id = k.schedule_id)
      UNION ALL
      SELECT id, format('carries schedule %s, which the soak did not declare', schedule_id)
        FROM taiat_all_jobs v WHERE schedule_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM soak_schedules s WHERE s.id = v.schedule_id)`,
  },
];

/** A span of time in which no scheduler could run. */
interface Window { kind: 'no worker' | 'no database'; start: number; end: number; what: string }

export interface ScheduleFigures {
  schedules: number;
  tickSeconds: number;
  policies: Record<string, number>;
  ticks: number;
  jobs: number;
  /** Ticks recorded twice, jobs beyond one per tick, runs beyond one per (job, step, attempt): must be 0. */
  duplicates: number;
  /** Jobs run again because their worker lost an attempt (kill -9, an expired lease). */
  ranAgain: number;
  /** Of those, jobs whose lost attempt had returned (its worker died, or lost its lease, before writing the outcome). */
  completedTwice: number;
  /** Expected ticks missing outside the windows with no scheduler: must be 0. */
  missing: number;
  /** Ticks that fell due in (or next to) a window with no scheduler and were skipped by the catch-up rule. */
  skippedByCatchUp: number;
  windows: string[];
  lateness: {
    quietTicks: number; p50Ms: number; p99Ms: number; maxMs: number; targetP99Ms: number;
    allTicks: { n: number; p50Ms: number; p99Ms: number; maxMs: number };
    firstRunStart: { p50Ms: number; p99Ms: number; maxMs: number };
  };
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const round = (ms: number) => Math.round(ms * 10) / 10;
const clock = (ms: number) => iso(ms).slice(11, 23);

/** The windows with no worker alive (a worker's scheduler runs from its start-up to its kill or SIGTERM) and with Postgres down. */
function windows(from: number, to: number): Window[] {
  const alive = procs
    .filter((p) => p.readyAt !== null)
    .map((p) => ({ start: p.readyAt!, end: Math.min(p.killedAt ?? Infinity, p.signalledAt ?? Infinity, p.exitedAt ?? Infinity) }))
    .sort((a, b) => a.start - b.start);
  const out: Window[] = [];
  let cursor = from;
  for (const a of alive) {
    if (a.start > cursor && cursor < to) out.push({ kind: 'no worker', start: cursor, end: Math.min(a.start, to), what: '' });
    cursor = Math.max(cursor, a.end);
  }
  if (cursor < to) out.push({ kind: 'no worker', start: cursor, end: to, what: '' });
  for (const f of faults) {
    if (DB_DOWN.includes(f.kind) && !f.skipped) out.push({ kind: 'no database', start: f.at, end: f.doneAt || f.at, what: `fault #${f.seq} ${f.kind}` });
  }
  return out.sort((a, b) => a.start - b.start);
}

interface TickRow { schedule_id: string; tick_ms: number; created_ms: number; first_run_ms: number | null }

export async function checkSchedules(sql: postgres.Sql): Promise<{ checks: { name: string; what: string; violations: number }[]; figures: ScheduleFigures }> {
  await sql.unsafe(`
    DROP TABLE IF EXISTS tick_jobs;
    CREATE TABLE tick_jobs AS
      SELECT k.schedule_id, k.tick_at, k.created_at, x.job_id
        FROM taiat_schedule_ticks k
        LEFT JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(k.job_ids) = 'array' THEN k.job_ids ELSE '[]' END) AS x(job_id) ON true;
    CREATE INDEX ON tick_jobs (job_id);
    ANALYZE tick_jobs;`);

  const checks: { name: string; what: string; violations: number }[] = [];
  for (const c of SQL_CHECKS) {
    const rows = await sql.unsafe<{ job_id: string | null; detail: string }[]>(c.query);
    checks.push({ name: c.name, what: c.what, violations: rows.length });
    for (const r of rows) violation(c.name, r.job_id, r.detail);
  }

  const ticks = await sql<TickRow[]>`
    SELECT t.schedule_id, extract(epoch FROM t.tick_at)::float8 * 1000 AS tick_ms, extract(epoch FROM t.created_at)::float8 * 1000 AS created_ms,
           extract(epoch FROM (SELECT min(r.started_at) FROM runs_eff r WHERE r.job_id = t.job_id))::float8 * 1000 AS first_run_ms
      FROM tick_jobs t ORDER BY t.schedule_id, t.tick_at`;
  const bySchedule = new Map<string, TickRow[]>();
  for (const t of ticks) {
    const list = bySchedule.get(t.schedule_id) ?? [];
    if (list.at(-1)?.tick_ms !== t.tick_ms) list.push(t); // a tick with two jobs is counted above, once here
    bySchedule.set(t.schedule_id, list);
  }

  // The ticks of one pass share its now() as created_at; its jobs run once it commits.
  const passSize = new Map<number, number>();
  for (const t of ticks) passSize.set(t.created_ms, (passSize.get(t.created_ms) ?? 0) + 1);
  const tickStory = (t: TickRow | undefined) => t
    ? `${clock(t.tick_ms)} created ${clock(t.created_ms)} by a pass of ${passSize.get(t.created_ms)} tick(s), its job first run at ${t.first_run_ms === null ? 'never' : clock(t.first_run_ms)}`
    : 'none';

  const from = Math.min(...schedules.map((s) => s.declaredAt));
  const to = Math.max(...schedules.map((s) => s.pausedAt ?? s.declaredAt));
  const wins = windows(from, to);
  const windowOf = (ms: number) => wins.find((w) => ms >= w.start - BEFORE_WINDOW_MS && ms <= w.end + AFTER_WINDOW_MS);
  const windowStats = new Map<Window, { skipped: number; recoveryMs: number }>();
  for (const w of wins) windowStats.set(w, { skipped: 0, recoveryMs: 0 });

  // Missing ticks: every whole second from the first tick due after the schedule was declared to
  // the last one due well before it was paused has a tick, or lies in a window with no scheduler
  // (then its catch-up decides: skip and latest skip it; all only beyond its limit).
  let missing = 0;
  let skipped = 0;
  const missingCheck = { name: 'schedule-missing-tick', what: `no tick missing while a scheduler could run (windows with no worker or no Postgres: ${BEFORE_WINDOW_MS / 1000} s before to ${AFTER_WINDOW_MS / 1000} s after; catch-up all: only beyond its limit)`, violations: 0 };
  for (const s of schedules) {
    const list = bySchedule.get(s.id) ?? [];
    const have = new Map(list.map((t) => [t.tick_ms, t]));
    const groupSize = new Map<number, number>();
    for (const t of list) groupSize.set(t.created_ms, (groupSize.get(t.created_ms) ?? 0) + 1);
    const first = Math.floor((s.declareAckedAt ?? s.declaredAt) / TICK_MS) * TICK_MS + TICK_MS;
    const last = Math.floor(((s.pausedAt ?? to) - BEFORE_WINDOW_MS) / TICK_MS) * TICK_MS;
    let gap: number[] = [];
    const closeGap = () => {
      if (gap.length === 0) return;
      const next = list.find((t) => t.tick_ms > gap.at(-1)!);
      const prev = list.findLast((t) => t.tick_ms < gap[0]!);
      const unexplained = gap.filter((m) => {
        const w = windowOf(m);
        if (!w) return true;
        // Catch-up all creates every tick due, up to its limit: a gap only when the next pass was full.
        if (s.catchUp === 'all' && !(next && groupSize.get(next.created_ms) === s.catchUpLimit)) return true;
        windowStats.get(w)!.skipped += 1;
        return false;
      });
      skipped += gap.length - unexplained.length;
      if (unexplained.length > 0) {
        missing += unexplained.length;
        missingCheck.violations += 1;
        const near = faults.filter((f) => f.doneAt >= gap[0]! - 15_000 && f.at <= gap.at(-1)! + 5_000)
          .map((f) => `#${f.seq} ${f.kind} ${clock(f.at)}..${clock(f.doneAt || f.at)}`);
        violation('schedule-missing-tick', null,
          `schedule ${s.id} (${s.catchUp}${s.catchUp === 'all' ? ` ${s.catchUpLimit}` : ''}): no tick at ${unexplained.map(clock).join(', ')}` +
          ` (gap ${clock(gap[0]!)}..${clock(gap.at(-1)!)}); tick before: ${tickStory(prev)}; tick after: ${tickStory(next)}` +
          ` (${next ? groupSize.get(next.created_ms) : 0} of this schedule)` +
          `; workers ready then: ${aliveAt(gap[0]!)}; faults near: ${near.join(', ') || 'none'}`);
      }
      gap = [];
    };
    for (let m = first; m <= last; m += TICK_MS) {
      if (have.has(m)) closeGap();
      else gap.push(m);
    }
    closeGap();
  }
  checks.push(missingCheck);

  // How long after each window the first catch-up pass came, per schedule (the worst one).
  for (const w of wins) {
    for (const list of bySchedule.values()) {
      const after = list.find((t) => t.created_ms >= w.end);
      if (after) windowStats.get(w)!.recoveryMs = Math.max(windowStats.get(w)!.recoveryMs, after.created_ms - w.end);
    }
  }

  // Lateness: ticks away from every fault and window.
  const quiet = (ms: number) =>
    !wins.some((w) => ms >= w.start - BEFORE_WINDOW_MS && ms <= w.end + QUIET_MS)
    && !faults.some((f) => !f.skipped && ms >= f.at - BEFORE_WINDOW_MS && ms <= (f.doneAt || f.at) + QUIET_MS);
  const all = [...bySchedule.values()].flat();
  const lateAll = all.map((t) => t.created_ms - t.tick_ms).sort((a, b) => a - b);
  const quietTicks = all.filter((t) => quiet(t.tick_ms));
  const lateQuiet = quietTicks.map((t) => t.created_ms - t.tick_ms).sort((a, b) => a - b);
  const startQuiet = quietTicks.filter((t) => t.first_run_ms !== null).map((t) => t.first_run_ms! - t.tick_ms).sort((a, b) => a - b);
  const p99 = percentile(lateQuiet, 99);
  const latenessCheck = { name: 'schedule-lateness', what: `p99 of (tick created - tick due), away from faults, is at most ${LATENESS_TARGET_MS} ms`, violations: 0 };
  if (!(p99 <= LATENESS_TARGET_MS)) {
    latenessCheck.violations = 1;
    violation('schedule-lateness', null, `p99 ${round(p99)} ms over ${lateQuiet.length} ticks away from faults (p50 ${round(percentile(lateQuiet, 50))} ms, max ${round(lateQuiet.at(-1) ?? NaN)} ms); target ${LATENESS_TARGET_MS} ms`);
  }
  checks.push(latenessCheck);

  const [totals] = await sql<{ ticks: number; jobs: number; dup_ticks: number; dup_jobs: number; dup_runs: number; rerun: number; completed_twice: number }[]>`
    WITH tick_runs AS (SELECT r.* FROM runs_eff r JOIN tick_jobs t ON t.job_id = r.job_id)
    SELECT (SELECT count(*)::int FROM taiat_schedule_ticks) AS ticks,
           (SELECT count(*)::int FROM taiat_all_jobs WHERE schedule_id IS NOT NULL) AS jobs,
           (SELECT count(*)::int - count(DISTINCT (schedule_id, tick_at))::int FROM taiat_schedule_ticks) AS dup_ticks,
           (SELECT count(*)::int - count(DISTINCT (schedule_id, schedule_tick))::int FROM taiat_all_jobs WHERE schedule_id IS NOT NULL)
             + (SELECT coalesce(sum(greatest(jsonb_array_length(job_ids) - 1, 0)), 0)::int FROM taiat_schedule_ticks) AS dup_jobs,
           (SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM tick_runs WHERE abort_reason IS DISTINCT FROM 'shutdown'
             GROUP BY job_id, step, attempt HAVING count(*) > 1) d) AS dup_runs,
           (SELECT count(*)::int FROM taiat_job_history h JOIN tick_jobs t ON t.job_id = h.job_id WHERE h.attempts > 1) AS rerun,
           (SELECT count(*)::int FROM (SELECT job_id FROM tick_runs WHERE outcome = 'completed' GROUP BY job_id HAVING count(*) > 1) d) AS completed_twice`;

  const policies: Record<string, number> = {};
  for (const s of schedules) {
    const key = s.catchUp === 'all' ? `all(${s.catchUpLimit})` : s.catchUp;
    policies[key] = (policies[key] ?? 0) + 1;
  }
  const stats = (v: number[]) => ({ p50Ms: round(percentile(v, 50)), p99Ms: round(percentile(v, 99)), maxMs: round(v.at(-1) ?? NaN) });
  return {
    checks,
    figures: {
      schedules: SCHEDULE_COUNT,
      tickSeconds: TICK_SECONDS,
      policies,
      ticks: totals!.ticks,
      jobs: totals!.jobs,
      duplicates: totals!.dup_ticks + totals!.dup_jobs + totals!.dup_runs,
      ranAgain: totals!.rerun,
      completedTwice: totals!.completed_twice,
      missing,
      skippedByCatchUp: skipped,
      windows: wins.map((w) => {
        const st = windowStats.get(w)!;
        return `${w.kind} ${clock(w.start)}..${clock(w.end)} (${((w.end - w.start) / 1000).toFixed(1)} s${w.what ? `, ${w.what}` : ''}): ` +
          `${st.skipped} tick(s) skipped by catch-up, first catch-up pass at most ${(st.recoveryMs / 1000).toFixed(2)} s after`;
      }),
      lateness: {
        quietTicks: lateQuiet.length, ...stats(lateQuiet), targetP99Ms: LATENESS_TARGET_MS,
        allTicks: { n: lateAll.length, ...stats(lateAll) },
        firstRunStart: stats(startQuiet),
      },
    },
  };
}

/** How many workers were ready (scheduling) at `ms`. */
function aliveAt(ms: number): number {
  return procs.filter((p) => p.readyAt !== null && p.readyAt <= ms && ms < Math.min(p.killedAt ?? Infinity, p.signalledAt ?? Infinity, p.exitedAt ?? Infinity)).length;
}
