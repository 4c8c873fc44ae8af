-- retries-per-job.sql: jobs that were retried, and the errors of their failed attempts.
--
-- Answers:    which jobs needed more than one try, live or finished: retry_count, max_retries,
--             attempts (of the current step), and every failed attempt recorded in
--             attempt_errors as 'attempt N at TIME on WORKER: ERROR', oldest first.
--               live     (taiat_jobs): every job that recorded a failed attempt; it is waiting
--                        for its retry (pending, run_at = when) or running it.
--               history  (taiat_job_history, finished in the period): jobs with retry_count > 0,
--                        or more failed attempts than the final one of a failed job (this also
--                        catches jobs retried by hand with retryJob, and failed attempts of an
--                        earlier step of a ctx.waitFor job, whose retry_count starts again at 0).
--             Live jobs first, then most retries, then most recent.
--
-- Parameters: in the `params` CTE at the top, as literals, so this file runs unchanged in psql
--             or any SQL client; edit a literal to change it:
--               since  history only: start of the period (completed_at), default
--                      now() - interval '7 days'
--             In psql you may instead run `\set since '30 days'` first and write
--             `now() - :'since'::interval` in place of the literal.
--             LIMIT 1000 keeps the output readable: raise or remove it for everything.
--
-- Cost:       history: one range scan of taiat_job_history_completed_at_idx over the period.
--             live: no index covers "has failed attempts", so taiat_jobs is read in full (one
--             sequential pass, cheap per row: retry_count first, then an inline-sized jsonb).
WITH params AS (
  SELECT now() - interval '7 days' AS since
),
retried AS (
  SELECT 'live'::text       AS location,
         j.id, j.name, j.job_type, j.status, j.retry_count, j.max_retries, j.attempts, j.step,
         j.attempt_errors,
         j.run_at           AS next_run_at,
         j.updated_at       AS last_change
    FROM taiat_jobs j
   WHERE j.retry_count > 0 OR j.attempt_errors <> '[]'::jsonb
  UNION ALL
  SELECT 'history'::text,
         h.job_id, h.name, h.job_type, h.status, h.retry_count, h.max_retries, h.attempts, h.step,
         h.attempt_errors,
         NULL::timestamptz,
         h.completed_at
    FROM params p
    JOIN taiat_job_history h ON h.completed_at >= p.since
   WHERE h.retry_count > 0
      OR jsonb_array_length(h.attempt_errors) > CASE WHEN h.status = 'failed' THEN 1 ELSE 0 END
)
SELECT r.location,
       r.id,
       r.name,
       r.job_type,
       r.status,
       r.retry_count,
       r.max_retries,
       r.attempts,
       r.step,
       jsonb_array_length(r.attempt_errors) AS failed_attempts,
       ARRAY(
         SELECT format('attempt %s at %s on %s: %s',
                       e->>'attempt', e->>'at', coalesce(e->>'worker_id', '-'), e->>'error')
           FROM jsonb_array_elements(r.attempt_errors) WITH ORDINALITY AS x(e, n)
          ORDER BY x.n
       )                                    AS errors,
       r.next_run_at,
       r.last_change
  FROM retried r
 ORDER BY r.location = 'live' DESC, r.retry_count DESC, r.last_change DESC, r.id
 LIMIT 1000;
