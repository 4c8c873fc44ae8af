/**
 * The schedules scenario's checks, once the run's records are in the database (runs_eff and
 * created_all built, analysis.ts): the SQL checks (schedule-sql-checks.ts: each tick once, its
 * one job run once, each pass by its schedule's catch-up rule...), then no tick missing at all (a
 * tick under a minute late runs whatever the policy, and no window without a scheduler lasts a
 * minute), and how late ticks were created. The windows in which no scheduler could run (no
 * worker alive, Postgres restarting) come from the driver's records of its processes and faults.
 */
import type postgres from 'postgres';
import { iso } from './clock.js';
import { TICKS_PER_PASS } from '../dist/store/schedule-ticks.js';
import { MISSED_AFTER, SCHEDULE_SQL_CHECKS } from './schedule-sql-checks.js';
import { SCHEDULE_COUNT, TICK_SECONDS } from './schedules.js';
import { faults, procs, schedules, violation, type FaultKind } from './state.js';

/** A tick due this long before a window opened may be created only after it: its pass was due just then. */
const BEFORE_WINDOW_MS = 1_000;
/**
 * A window's ticks are created by the first pass after it: 0.5 s after a worker starts (Postgres:
 * after the restart returns), 100 schedules a pass. A pause this soon after a window may beat it.
 */
const AFTER_WINDOW_MS = 1_500;
/**
 * A tick at the end of a schedule may be missing if the last pass that created a tick of it came
 * this soon before its pause (and the tick fell due after that pass): the next pass came too late.
 */
const BEFORE_PAUSE_MS = 2_000;
/** Ticks this close to a fault are left out of the lateness figures. */
const QUIET_MS = 3_000;
/** The lateness target: p99 of (tick created - tick due) away from faults. */
export const LATENESS_TARGET_MS = 1_000;

const TICK_MS = TICK_SECONDS * 1_000;
const DB_DOWN: FaultKind[] = ['restart-fast', 'restart-immediate', 'outage'];

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
  /** Expected ticks missing, in a window with no scheduler or not: must be 0. */
  missing: number;
  /** Ticks at the end of a schedule not created because its pause came before a pass reached them (allowed). */
  notReachedBeforePause: number;
  /** Ticks that fell due in a window with no scheduler, all created by the first pass after it. */
  caughtUp: number;
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
  for (const c of SCHEDULE_SQL_CHECKS) {
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
  const windowOf = (ms: number) => wins.find((w) => ms >= w.start && ms <= w.end);
  const windowStats = new Map<Window, { created: number; maxLateMs: number; recoveryMs: number }>();
  for (const w of wins) windowStats.set(w, { created: 0, maxLateMs: 0, recoveryMs: 0 });

  // Missing ticks: every whole second from the first tick due after the schedule was declared to
  // the last one due a second before it was paused has a tick, whatever the policy, in a window
  // with no scheduler or not: a window lasts seconds, and only a tick over a minute late is missed.
  // A pause in a window (or before the first pass after it) leaves that window's ticks out.
  // Pausing stops the ticks not yet created: a tick at the end of the schedule (no later tick of
  // it exists) may be missing if the last pass that created one of its ticks could not reach it:
  // that pass hit its budget (TICKS_PER_PASS ticks in all; the rest was the next pass's, and the
  // pause came first), or it came at most BEFORE_PAUSE_MS before the pause and the tick fell due
  // after it. A gap (a later tick of the schedule exists) is always a violation.
  let missing = 0;
  let notReachedBeforePause = 0;
  const missingCheck = {
    name: 'schedule-missing-tick',
    what: `no tick missing, whatever the policy, in the windows with no worker or no Postgres too (each under ${MISSED_AFTER}); ` +
      `only at a schedule's end may ticks be missing, those its last pass could not reach before the pause (that pass hit its budget of ${TICKS_PER_PASS}, ` +
      `or came within ${BEFORE_PAUSE_MS / 1000} s before the pause and they fell due after it); a gap never`,
    violations: 0,
  };
  for (const s of schedules) {
    const list = bySchedule.get(s.id) ?? [];
    const have = new Map(list.map((t) => [t.tick_ms, t]));
    const groupSize = new Map<number, number>();
    for (const t of list) groupSize.set(t.created_ms, (groupSize.get(t.created_ms) ?? 0) + 1);
    const first = Math.floor((s.declareAckedAt ?? s.declaredAt) / TICK_MS) * TICK_MS + TICK_MS;
    let end = (s.pausedAt ?? to) - BEFORE_WINDOW_MS;
    for (const w of wins) if (end >= w.start - BEFORE_WINDOW_MS && end <= w.end + AFTER_WINDOW_MS) end = Math.min(end, w.start - BEFORE_WINDOW_MS);
    const last = Math.floor(end / TICK_MS) * TICK_MS;
    // The schedule's last pass, and whether the ticks after its last tick were out of its reach.
    const lastTick = list.at(-1);
    const budgetLimited = lastTick !== undefined && passSize.get(lastTick.created_ms)! >= TICKS_PER_PASS;
    const nearPause = lastTick !== undefined && s.pausedAt !== null && lastTick.created_ms >= s.pausedAt - BEFORE_PAUSE_MS;
    const unreachable = (m: number) => lastTick !== undefined && m > lastTick.tick_ms && (budgetLimited || (nearPause && m > lastTick.created_ms));
    let gap: number[] = [];
    const closeGap = () => {
      if (gap.length === 0) return;
      missing += gap.length;
      missingCheck.violations += 1;
      const next = list.find((t) => t.tick_ms > gap.at(-1)!);
      const prev = list.findLast((t) => t.tick_ms < gap[0]!);
      const inWins = [...new Set(gap.map(windowOf).filter((w) => w !== undefined))].map((w) => `${w.kind} ${clock(w.start)}..${clock(w.end)}`);
      const near = faults.filter((f) => f.doneAt >= gap[0]! - 15_000 && f.at <= gap.at(-1)! + 5_000)
        .map((f) => `#${f.seq} ${f.kind} ${clock(f.at)}..${clock(f.doneAt || f.at)}`);
      violation('schedule-missing-tick', null,
        `schedule ${s.id} (${s.catchUp}${s.catchUp === 'all' ? ` ${s.catchUpLimit}` : ''}): no tick at ${gap.map(clock).join(', ')}` +
        `; tick before: ${tickStory(prev)}; tick after: ${tickStory(next)} (${next ? groupSize.get(next.created_ms) : 0} of this schedule)` +
        `; in window(s) with no scheduler: ${inWins.join(', ') || 'none'}; workers ready then: ${aliveAt(gap[0]!)}; faults near: ${near.join(', ') || 'none'}` +
        `; paused at ${s.pausedAt === null ? 'never' : clock(s.pausedAt)}`);
      gap = [];
    };
    for (let m = first; m <= last; m += TICK_MS) {
      if (have.has(m)) closeGap();
      else if (unreachable(m)) notReachedBeforePause += 1;
      else gap.push(m);
    }
    closeGap();
  }
  checks.push(missingCheck);

  // The ticks due in each window (created by the passes after it), and how long after it the
  // first pass came, per schedule (the worst one).
  const all = [...bySchedule.values()].flat();
  for (const t of all) {
    const w = windowOf(t.tick_ms);
    if (!w) continue;
    const st = windowStats.get(w)!;
    st.created += 1;
    st.maxLateMs = Math.max(st.maxLateMs, t.created_ms - t.tick_ms);
  }
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
      notReachedBeforePause,
      caughtUp: [...windowStats.values()].reduce((n, st) => n + st.created, 0),
      windows: wins.map((w) => {
        const st = windowStats.get(w)!;
        return `${w.kind} ${clock(w.start)}..${clock(w.end)} (${((w.end - w.start) / 1000).toFixed(1)} s${w.what ? `, ${w.what}` : ''}): ` +
          `${st.created} tick(s) due in it created, at most ${(st.maxLateMs / 1000).toFixed(2)} s late; first pass at most ${(st.recoveryMs / 1000).toFixed(2)} s after`;
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
