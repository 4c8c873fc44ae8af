-- durations.sql: how long jobs run, per job type, over a period.
--
-- Answers:    for jobs that finished in the period and ran (duration_seconds is NULL for a job
--             cancelled before it started), per job_type and final status: how many, the median
--             (p50) and 95th percentile (p95) duration, interpolated (percentile_cont), the
--             mean and the longest, in seconds. Completed runs are the ones to read for
--             performance; failed ones show timeouts and crashes. duration_seconds measures the
--             last attempt only (started_at to completion), not earlier failed attempts.
--
-- Parameters: in the `params` CTE at the top, as literals, so this file runs unchanged in psql
--             or any SQL client; edit a literal to change it:
--               since  start of the period (completed_at), default now() - interval '7 days'
--               until  end of the period (exclusive), default now()
--             In psql you may instead run `\set since '30 days'` first and write
--             `now() - :'since'::interval` in place of the literal.
--
-- Cost:       one range scan of taiat_job_history_completed_at_idx over the period, and one sort
--             per group (both percentiles come from a single percentile_cont(ARRAY[...]) call).
WITH params AS (
  SELECT now() - interval '7 days' AS since,
         now()                     AS until
),
runs AS (
  SELECT h.job_type,
         h.status,
         count(*)                AS runs,
         percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY h.duration_seconds) AS p,
         avg(h.duration_seconds) AS mean,
         max(h.duration_seconds) AS longest
    FROM params pa
    JOIN taiat_job_history h
      ON h.completed_at >= pa.since
     AND h.completed_at <  pa.until
   WHERE h.duration_seconds IS NOT NULL
   GROUP BY h.job_type, h.status
)
SELECT job_type,
       status,
       runs,
       round(p[1]::numeric, 3)    AS p50_seconds,
       round(p[2]::numeric, 3)    AS p95_seconds,
       round(mean::numeric, 3)    AS mean_seconds,
       round(longest::numeric, 3) AS max_seconds
  FROM runs
 ORDER BY job_type, status;
