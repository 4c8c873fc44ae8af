-- cascade-cancellations.sql: jobs cancelled because a job they depended on failed.
--
-- Answers:    every job cancelled by a cascade in the period (status 'cancelled' with
--             cause_job_id set in taiat_job_history), with its reason (error_message, e.g.
--             'dependency transform (transform) was cancelled: dependency extract (extract)
--             failed') and its root cause: the job whose failure (or cancellation by request)
--             started the cascade, that job's status, where it is now and its error. A root
--             found 'live' was retried since (retryJob without dependents: the cancelled jobs
--             stay cancelled; `retryJob(root, { dependents: true })` brings them back);
--             'not found' means it was pruned from history. cancelled_by_root counts the
--             period's cascade cancellations of that root. Jobs cancelled by request have no
--             cause_job_id and are not listed; a ctx.waitFor parent failed by its child has
--             one but status 'failed' (see failures-by-agent.sql). Newest cascades first.
--
-- Parameters: in the `params` CTE at the top, as literals, so this file runs unchanged in psql
--             or any SQL client; edit a literal to change it:
--               since  start of the period (completed_at), default now() - interval '7 days'
--               until  end of the period (exclusive), default now()
--             In psql you may instead run `\set since '30 days'` first and write
--             `now() - :'since'::interval` in place of the literal.
--             LIMIT 1000 keeps the output readable: raise or remove it for everything.
--             For one root cause instead, replace the period condition with
--             `h.cause_job_id = 'ROOT_ID'` (index taiat_job_history_cause_idx).
--
-- Cost:       the period's cancelled rows, from taiat_job_history_status_idx (status,
--             completed_at), possibly combined with taiat_job_history_cause_idx; then a key lookup
--             of the root of each row shown (taiat_jobs_pkey, taiat_job_history_job_id_idx).
WITH params AS (
  SELECT now() - interval '7 days' AS since,
         now()                     AS until
),
cancelled AS (
  SELECT h.job_id, h.name, h.job_type, h.completed_at, h.error_message, h.cause_job_id,
         count(*) OVER (PARTITION BY h.cause_job_id) AS cancelled_by_root
    FROM params p
    JOIN taiat_job_history h
      ON h.status = 'cancelled'
     AND h.completed_at >= p.since
     AND h.completed_at <  p.until
   WHERE h.cause_job_id IS NOT NULL
   ORDER BY h.completed_at DESC, h.cause_job_id, h.job_id
   LIMIT 1000
)
SELECT c.job_id                          AS cancelled_job_id,
       c.name                            AS cancelled_name,
       c.job_type,
       c.completed_at                    AS cancelled_at,
       c.error_message                   AS reason,
       c.cause_job_id                    AS root_job_id,
       r.name                            AS root_name,
       r.status                          AS root_status,
       coalesce(r.location, 'not found') AS root_location,
       r.error_message                   AS root_error,
       r.completed_at                    AS root_finished_at,
       c.cancelled_by_root
  FROM cancelled c
  LEFT JOIN LATERAL (
         SELECT a.name, a.status, a.location, a.error_message, a.completed_at
           FROM taiat_all_jobs a
          WHERE a.id = c.cause_job_id
          LIMIT 1
       ) AS r ON true
 ORDER BY c.completed_at DESC, c.cause_job_id, c.job_id;
