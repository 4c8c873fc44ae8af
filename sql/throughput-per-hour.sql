-- throughput-per-hour.sql: finished jobs per hour over the last 24 hours.
--
-- Answers:    how many jobs finished (moved to taiat_job_history) in each hour, split by final
--             status: completed, failed, cancelled (cascade cancellations included), and the
--             total. One row per hour, oldest first, hours without any finished job included
--             with zeros: the current (partial) hour and the 23 full hours before it. Hours
--             are clock hours in the session's TimeZone (date_trunc).
--
-- Parameters: in the `params` CTE at the top, as literals, so this file runs unchanged in psql
--             or any SQL client; edit a literal to change it:
--               hours  how many hours to show, counting the current one, default 24
--             In psql you may instead run `\set hours 48` first and write :hours in place of
--             the literal 24.
--
-- Cost:       one range scan of taiat_job_history_completed_at_idx over the hours shown.
--             (NOT MATERIALIZED lets the planner see the bound as an expression of now() and
--             estimate the range from the index statistics, PostgreSQL 12 or later.)
WITH params AS NOT MATERIALIZED (
  SELECT 24 AS hours
),
bounds AS NOT MATERIALIZED (
  SELECT date_trunc('hour', now()) - make_interval(hours => p.hours - 1) AS since,
         date_trunc('hour', now())                                     AS current_hour
    FROM params p
),
hours AS (
  SELECT generate_series(b.since, b.current_hour, interval '1 hour') AS hour
    FROM bounds b
),
finished AS (
  SELECT date_trunc('hour', h.completed_at)          AS hour,
         count(*) FILTER (WHERE h.status = 'completed') AS completed,
         count(*) FILTER (WHERE h.status = 'failed')    AS failed,
         count(*) FILTER (WHERE h.status = 'cancelled') AS cancelled,
         count(*)                                       AS total
    FROM bounds b
    JOIN taiat_job_history h ON h.completed_at >= b.since
   GROUP BY 1
)
SELECT hours.hour,
       coalesce(f.completed, 0) AS completed,
       coalesce(f.failed, 0)    AS failed,
       coalesce(f.cancelled, 0) AS cancelled,
       coalesce(f.total, 0)     AS total
  FROM hours
  LEFT JOIN finished f ON f.hour = hours.hour
 ORDER BY hours.hour;
