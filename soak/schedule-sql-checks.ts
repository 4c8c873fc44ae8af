/**
 * The schedules scenario's checks in SQL, once the run's records are in the database (runs_eff
 * and tick_jobs built): each tick recorded once with one job, that job stored once, carrying its
 * schedule and tick, run to completion once (again only for an attempt its worker lost), no run
 * before its tick, every pass of the scheduler by its schedule's catch-up rule, no tick after the
 * pause. Each query returns (job_id, detail), a row a violation.
 */

// The most ticks one pass creates: a pass that created this many may stop short of a schedule's latest due tick.
import { TICKS_PER_PASS } from '../dist/store/schedule-ticks.js';

/** SKIP_GRACE_SECONDS (src/jobs/schedule.ts): a tick more than this late at its pass was missed, and follows the catch-up policy. */
export const MISSED_AFTER = '60 s';

export interface SqlCheck { name: string; what: string; query: string }

export const SCHEDULE_SQL_CHECKS: SqlCheck[] = [
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
    what: `each pass of the scheduler created a schedule's latest due tick, unless the pass hit its budget (${TICKS_PER_PASS} ticks in all: the rest is the next pass's), and besides its ticks under ${MISSED_AFTER} late no more missed ones than its catch-up allows (skip: none, so no tick over ${MISSED_AFTER} late; latest: 1; all: its limit)`,
    query: `
      WITH pass AS (SELECT created_at, count(*) AS ticks FROM taiat_schedule_ticks GROUP BY created_at)
      SELECT NULL AS job_id, format('schedule %s (%s, limit %s): the pass at %s created %s tick(s) (%s in all), %s of them over ${MISSED_AFTER} late, latest %s: %s',
             k.schedule_id, s.catch_up, s.catch_up_limit, k.created_at, count(*), p.ticks, count(*) FILTER (WHERE k.tick_at < k.created_at - interval '${MISSED_AFTER}'),
             max(k.tick_at), string_agg(k.tick_at::text, ', ' ORDER BY k.tick_at)) AS detail
        FROM taiat_schedule_ticks k JOIN soak_schedules s ON s.id = k.schedule_id JOIN pass p ON p.created_at = k.created_at
       GROUP BY k.schedule_id, s.catch_up, s.catch_up_limit, k.created_at, p.ticks
      HAVING count(*) FILTER (WHERE k.tick_at < k.created_at - interval '${MISSED_AFTER}')
               > CASE s.catch_up WHEN 'skip' THEN 0 WHEN 'latest' THEN 1 ELSE s.catch_up_limit END
          OR (max(k.tick_at) <> date_trunc('second', k.created_at) AND p.ticks < ${TICKS_PER_PASS})`,
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
