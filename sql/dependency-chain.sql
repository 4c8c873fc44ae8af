-- dependency-chain.sql: the whole upstream dependency tree of one job.
--
-- Answers:    every job the given job waits for, directly or through other jobs, one row per
--             job: its depth (0 = the job itself, 1 = its direct dependencies, 2 = theirs, ...;
--             the shortest way when several paths lead to it), its status, where it lives
--             (location 'live' = taiat_jobs, 'history' = taiat_job_history, 'not found' = an id
--             no table holds: pruned from history, or a wrong job id), the worker holding or last
--             running it, when it finished, its error, and which jobs of the tree need it
--             (needed_by). Unfinished ancestors (pending, running) are what the job waits on;
--             a failed or cancelled one explains a cascade cancellation.
--
-- Parameters: in the `params` CTE at the top, as a literal, so this file runs unchanged in psql
--             or any SQL client:
--               job_id  the job to start from. As shipped it is the placeholder JOB_ID_HERE,
--                       and the query returns a single 'not found' row: replace the literal in
--                       `SELECT 'JOB_ID_HERE'::text AS job_id` with a job id.
--             In psql you may instead run `\set job_id 'some-id'` first and write :'job_id'
--             in place of the literal.
--             Recursion stops at depth 1000 (taiat rejects cycles at creation; the bound only
--             guards against hand-edited rows).
--
-- Cost:       two key lookups per job of the tree (taiat_jobs_pkey and
--             taiat_job_history_job_id_idx, through the taiat_all_jobs view), whatever the table
--             sizes. UNION drops repeated rows, so a diamond-shaped graph costs one visit per
--             edge and depth reached, not one per path. The lookups are LATERAL ... LIMIT 1 so
--             the planner's row estimates stay small (a join on the view made it expect
--             millions of rows and spend most of a second compiling the query with JIT).
WITH RECURSIVE params AS (
  SELECT 'JOB_ID_HERE'::text AS job_id
),
chain (id, depth, needed_by) AS (
  SELECT p.job_id, 0, NULL::text
    FROM params p
  UNION
  SELECT d.id, c.depth + 1, c.id
    FROM chain c
   CROSS JOIN LATERAL (SELECT a.dependencies FROM taiat_all_jobs a WHERE a.id = c.id LIMIT 1) AS a
   CROSS JOIN LATERAL jsonb_array_elements_text(a.dependencies) AS d(id)
   WHERE c.depth < 1000
),
tree AS (
  SELECT id,
         min(depth)                                                      AS depth,
         array_agg(DISTINCT needed_by) FILTER (WHERE needed_by IS NOT NULL) AS needed_by
    FROM chain
   GROUP BY id
)
SELECT t.depth,
       t.id,
       a.name,
       a.job_type,
       a.status,
       coalesce(a.location, 'not found') AS location,
       a.worker_id,
       a.run_at,
       a.completed_at,
       a.error_message,
       a.cause_job_id,
       t.needed_by
  FROM tree t
  LEFT JOIN LATERAL (SELECT * FROM taiat_all_jobs a WHERE a.id = t.id LIMIT 1) AS a ON true
 ORDER BY t.depth, t.id;
