-- failures-by-agent.sql: what fails, and why, over a period.
--
-- Answers:    jobs that failed for good in the period (status 'failed' in taiat_job_history: no
--             retries left, no executor, worker lost on the last attempt, a child it waited for
--             failed), grouped by job_type, agent (payload->>'agent_name'; NULL for jobs that
--             are not agent jobs) and error_message, with how many, first and last seen, the
--             attempts they used, how many workers they failed on, and one job id to look at
--             (e.g. with dependency-chain.sql). Most frequent first.
--             Jobs cancelled because a dependency failed are not failures: see
--             cascade-cancellations.sql. Failed attempts that were retried: retries-per-job.sql.
--
-- Parameters: in the `params` CTE at the top, as literals, so this file runs unchanged in psql
--             or any SQL client; edit a literal to change it:
--               since  start of the period (completed_at), default now() - interval '7 days'
--               until  end of the period (exclusive), default now()
--             In psql you may instead run `\set since '30 days'` first and write
--             `now() - :'since'::interval` in place of the literal.
--
-- Cost:       one range scan over the period, of taiat_job_history_status_idx (status,
--             completed_at: the failed rows only) or taiat_job_history_completed_at_idx, as the
--             planner estimates cheaper; never the whole history.
WITH params AS (
  SELECT now() - interval '7 days' AS since,
         now()                     AS until
)
SELECT h.job_type,
       h.payload->>'agent_name'    AS agent_name,
       h.error_message,
       count(*)                    AS failures,
       min(h.completed_at)         AS first_seen,
       max(h.completed_at)         AS last_seen,
       sum(h.attempts)             AS attempts,
       count(DISTINCT h.worker_id) AS workers,
       max(h.job_id)               AS example_job_id
  FROM params p
  JOIN taiat_job_history h
    ON h.status = 'failed'
   AND h.completed_at >= p.since
   AND h.completed_at <  p.until
 GROUP BY h.job_type, h.payload->>'agent_name', h.error_message
 ORDER BY failures DESC, last_seen DESC;
