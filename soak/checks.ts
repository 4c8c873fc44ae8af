/**
 * The invariant checks. Each query returns the offending jobs, with a sentence each; they run
 * over taiat's tables and the soak's, with created_all (every job the soak created, children
 * included) and runs_eff (every run with its effective end) built first (analysis.ts).
 */
import { KEY_LIMIT, KEYED_QUEUE } from './config.js';

export const CHECKS: { name: string; what: string; query: string }[] = [
  {
    name: 'placement',
    what: 'every created job (and every child, found through parent_id) is in exactly one of taiat_jobs / taiat_job_history, and finished',
    query: `
      SELECT c.job_id, format('in taiat_jobs: %s (%s), in taiat_job_history: %s', live, coalesce(live_status, '-'), hist) AS detail
        FROM (SELECT c.job_id,
                     (SELECT count(*) FROM taiat_jobs j WHERE j.id = c.job_id) AS live,
                     (SELECT max(j.status) FROM taiat_jobs j WHERE j.id = c.job_id) AS live_status,
                     (SELECT count(*) FROM taiat_job_history h WHERE h.job_id = c.job_id) AS hist
                FROM created_all c) c
       WHERE live + hist <> 1 OR live > 0`,
  },
  {
    name: 'unknown-run',
    what: 'every run belongs to a job the soak created (or a child of one)',
    query: `SELECT r.job_id, format('run %s of a job the soak did not create', r.run_id) AS detail
              FROM runs_eff r WHERE NOT EXISTS (SELECT 1 FROM created_all c WHERE c.job_id = r.job_id)`,
  },
  {
    name: 'completed-without-run',
    what: 'a completed job has a run of its last step and attempt that returned',
    query: `
      SELECT h.job_id, format('completed at step %s attempt %s, but no run of that step and attempt completed (runs: %s)', h.step, h.attempts,
             (SELECT string_agg(format('s%s/a%s %s', r.step, r.attempt, coalesce(r.outcome, 'no end')), ', ' ORDER BY r.started_at) FROM runs_eff r WHERE r.job_id = h.job_id)) AS detail
        FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id
       WHERE h.status = 'completed'
         AND NOT EXISTS (SELECT 1 FROM runs_eff r WHERE r.job_id = h.job_id AND r.step = h.step AND r.attempt = h.attempts AND r.outcome = 'completed')`,
  },
  {
    name: 'always-fail-completed',
    what: 'a job whose every attempt fails never completes',
    query: `SELECT h.job_id, 'a job that fails on every attempt completed' AS detail
              FROM taiat_job_history h JOIN soak_jobs s ON s.job_id = h.job_id
             WHERE h.status = 'completed' AND (s.params->>'failFirst' = 'always' OR s.params->>'hangAttempts' = 'always')`,
  },
  {
    name: 'dependency-order',
    what: 'no run started before all of its dependencies completed (children waited for: from step 1)',
    query: `
      SELECT r.job_id, format('run %s (step %s, attempt %s) started at %s; dependency %s %s', r.run_id, r.step, r.attempt, r.started_at,
             d.dep, CASE WHEN dh.job_id IS NULL THEN 'never finished'
                         WHEN dh.status <> 'completed' THEN 'ended ' || dh.status || ' at ' || dh.completed_at
                         ELSE 'completed only at ' || dh.completed_at END) AS detail
        FROM runs_eff r
        JOIN taiat_all_jobs h ON h.id = r.job_id
        CROSS JOIN LATERAL jsonb_array_elements_text(h.dependencies) AS d(dep)
        LEFT JOIN taiat_all_jobs dv ON dv.id = d.dep
        LEFT JOIN taiat_job_history dh ON dh.job_id = d.dep
       WHERE NOT (r.step = 0 AND dv.parent_id IS NOT DISTINCT FROM r.job_id)
         AND (dh.job_id IS NULL OR dh.status <> 'completed' OR dh.completed_at >= r.started_at)`,
  },
  {
    name: 'ran-after-dependency-failed',
    what: 'no job cancelled (or failed) because of another job ran after that job failed',
    query: `
      SELECT h.job_id, format('%s because of %s (which ended %s at %s), yet run %s started at %s', h.status, h.cause_job_id, ch.status, ch.completed_at, r.run_id, r.started_at) AS detail
        FROM taiat_job_history h
        JOIN created_all c ON c.job_id = h.job_id
        JOIN taiat_job_history ch ON ch.job_id = h.cause_job_id
        JOIN runs_eff r ON r.job_id = h.job_id
       WHERE h.cause_job_id IS NOT NULL AND r.started_at > ch.completed_at`,
  },
  {
    name: 'overlap',
    what: 'no two runs of a job overlap in time (a run ends when it returns, its signal aborts, or its process is killed)',
    query: `
      SELECT a.job_id, format('run %s (s%s/a%s, pid %s, %s .. %s, %s) overlaps run %s (s%s/a%s, pid %s, %s .. %s, %s)',
             a.run_id, a.step, a.attempt, a.pid, a.started_at, coalesce(a.eff_end::text, 'never'), coalesce(a.outcome, a.fate),
             b.run_id, b.step, b.attempt, b.pid, b.started_at, coalesce(b.eff_end::text, 'never'), coalesce(b.outcome, b.fate)) AS detail
        FROM runs_eff a JOIN runs_eff b ON a.job_id = b.job_id AND (a.started_at, a.run_id) < (b.started_at, b.run_id)
       WHERE b.started_at < coalesce(a.eff_end, 'infinity')`,
  },
  {
    name: 'key-limit',
    what: `no more than ${KEY_LIMIT} runs of one concurrency key of the keyed queue at any instant (counted at each run's start)`,
    query: `
      SELECT a.job_id, format('run %s (key %s) started at %s while %s runs of its key ran: %s', a.run_id, ja.concurrency_key, a.started_at, n.runs, n.list) AS detail
        FROM runs_eff a
        JOIN taiat_all_jobs ja ON ja.id = a.job_id AND ja.queue = '${KEYED_QUEUE}' AND ja.concurrency_key IS NOT NULL
        CROSS JOIN LATERAL (
          SELECT count(*) AS runs, string_agg(format('%s (%s .. %s)', b.run_id, b.started_at, coalesce(b.eff_end::text, 'never')), ', ') AS list
            FROM runs_eff b JOIN taiat_all_jobs jb ON jb.id = b.job_id
           WHERE jb.queue = ja.queue AND jb.concurrency_key = ja.concurrency_key
             AND b.started_at <= a.started_at AND a.started_at < coalesce(b.eff_end, 'infinity')) n
       WHERE n.runs > ${KEY_LIMIT}`,
  },
  {
    name: 'run-never-ended',
    what: 'every run ended (returned, aborted, or its process exited)',
    query: `SELECT job_id, format('run %s (pid %s) started at %s has no end and its process did not exit', run_id, pid, started_at) AS detail
              FROM runs_eff WHERE eff_end IS NULL`,
  },
  {
    name: 'attempts-exceeded',
    what: 'attempts never exceed max_retries + 1 (per step)',
    query: `
      SELECT h.job_id, format('%s attempts recorded in history, highest run attempt %s, max_retries %s', h.attempts,
             (SELECT max(attempt) FROM runs_eff r WHERE r.job_id = h.job_id), h.max_retries) AS detail
        FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id
       WHERE h.attempts > h.max_retries + 1
          OR EXISTS (SELECT 1 FROM runs_eff r WHERE r.job_id = h.job_id AND (r.attempt > h.max_retries + 1 OR r.attempt < 1))`,
  },
  {
    name: 'killed-attempt-not-counted',
    what: 'a run cut by kill -9 counts as an attempt: the job ran again with a higher attempt (or a later step), or its attempt_errors record it as worker lost',
    query: `
      SELECT r.job_id, format('run %s (s%s/a%s) was cut by kill -9 of pid %s at %s; %s', r.run_id, r.step, r.attempt, r.pid, r.gone_at,
             CASE WHEN dup.run_id IS NOT NULL THEN format('run %s later ran the same step and attempt', dup.run_id)
                  ELSE format('no later attempt, history %s after %s attempt(s), attempt_errors %s', h.status, h.attempts, h.attempt_errors) END) AS detail
        FROM runs_eff r
        LEFT JOIN taiat_all_jobs h ON h.id = r.job_id
        LEFT JOIN LATERAL (SELECT r2.run_id FROM runs_eff r2 WHERE r2.job_id = r.job_id AND r2.step = r.step AND r2.attempt = r.attempt
                              AND r2.started_at > r.started_at LIMIT 1) dup ON true
       WHERE r.fate = 'kill9' AND r.ended_at IS NULL AND r.aborted_at IS NULL
         AND (dup.run_id IS NOT NULL OR NOT (
               EXISTS (SELECT 1 FROM runs_eff r2 WHERE r2.job_id = r.job_id AND r2.started_at > r.started_at
                         AND (r2.step > r.step OR (r2.step = r.step AND r2.attempt > r.attempt)))
            OR EXISTS (SELECT 1 FROM jsonb_array_elements(h.attempt_errors) e
                        WHERE (e->>'attempt')::int = r.attempt AND e->>'error' LIKE 'worker lost%')))`,
  },
  {
    name: 'ran-after-cancel',
    what: 'no run started after a cancel request that cancelled the job while pending',
    query: `
      SELECT c.job_id, format('cancelled while pending (request acknowledged at %s), yet run %s started at %s', c.acked_at, r.run_id, r.started_at) AS detail
        FROM soak_cancels c
        JOIN taiat_job_history h ON h.job_id = c.job_id AND h.status = 'cancelled' AND h.error_message = 'cancelled by request'
        JOIN runs_eff r ON r.job_id = c.job_id
       WHERE c.acked_at IS NOT NULL AND r.started_at > c.acked_at
      UNION ALL
      SELECT c.job_id, format('cancelJob returned it cancelled at %s, yet run %s started at %s', c.acked_at, r.run_id, r.started_at)
        FROM soak_cancels c JOIN runs_eff r ON r.job_id = c.job_id
       WHERE c.result = 'returned cancelled' AND r.started_at > c.acked_at
         AND NOT EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = c.job_id AND h.error_message = 'cancelled by request')`,
  },
  {
    name: 'cancel-without-effect',
    what: 'cancelJob of a live job leaves it cancelled (pending) or cancel-requested (running), never still pending',
    query: `SELECT job_id, format('cancelJob at %s returned the job still pending', acked_at) AS detail FROM soak_cancels WHERE result = 'returned pending'`,
  },
  {
    name: 'ran-after-finish',
    what: 'no run started after its job moved to history',
    query: `
      SELECT h.job_id, format('%s at %s, yet run %s started at %s', h.status, h.completed_at, r.run_id, r.started_at) AS detail
        FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id JOIN runs_eff r ON r.job_id = h.job_id
       WHERE r.started_at > h.completed_at`,
  },
  {
    name: 'duplicate-execution',
    what: 'one run per (job, step, attempt), except attempts released by a worker shutdown (not counted by design)',
    query: `
      SELECT job_id, format('step %s attempt %s ran %s times: %s', step, attempt, count(*), string_agg(run_id || ' pid ' || pid || ' ' || coalesce(outcome, fate), ', ' ORDER BY started_at)) AS detail
        FROM runs_eff WHERE abort_reason IS DISTINCT FROM 'shutdown'
       GROUP BY job_id, step, attempt HAVING count(*) > 1`,
  },
  {
    name: 'agent-anomaly',
    what: 'every run found the results of all its dependencies',
    query: `SELECT job_id, format('run %s: %s', run_id, anomaly) AS detail FROM runs_eff WHERE anomaly IS NOT NULL`,
  },
  {
    name: 'child-lost',
    what: 'every child a delegating agent created exists',
    query: `
      SELECT r.job_id, format('run %s created child %s, which is in neither table', r.run_id, k.child) AS detail
        FROM runs_eff r CROSS JOIN LATERAL unnest(r.children) AS k(child)
       WHERE NOT EXISTS (SELECT 1 FROM taiat_all_jobs v WHERE v.id = k.child)`,
  },
];
