-- lost-workers.sql: workers that went silent, and the jobs they held.
--
-- Answers:    which workers stopped heartbeating without stopping cleanly (last_heartbeat_at
--             older than lost_after, stopped_at NULL: kill -9, a lost machine, a partition),
--             and, for each, the jobs it held when it went silent, one row per job:
--               'still leased'               running under the dead worker's lease, not taken
--                                            back yet (lease_expires_at says when it may be;
--                                            only a live worker takes jobs back), taiat_jobs;
--               'taken back, retry pending'  back to pending for a retry, taiat_jobs;
--               'taken back, running again'  its retry is running on another worker,
--                                            taiat_jobs;
--               'taken back, finished'       in taiat_job_history: failed for good if it had
--                                            no retries left, or retried and then finished.
--             "Taken back" rows are found by the 'worker lost' entry with the worker's id that
--             the rescue wrote to attempt_errors; taken_back_at is that entry's time.
--             A lost worker that held nothing is listed once with NULL job columns. Only 'worker
--             lost' entries recorded after the worker's last heartbeat count (a lease that
--             expired while the worker still heartbeated was not this loss).
--
-- Parameters: in the `params` CTE at the top, as literals, so this file runs unchanged in psql
--             or any SQL client; edit a literal to change it:
--               lost_after  silence after which a worker is lost, default interval '90 seconds'
--                           (`taiat-worker --status` calls a worker lost after three of its own
--                           heartbeat intervals, 3 * heartbeat_seconds: 30 s by default, and
--                           90 s for a worker of taiat 0.1, whose heartbeat_seconds is NULL)
--               lookback    only workers heard from within this, default interval '7 days':
--                           the row of a crashed worker stays forever, and its jobs were taken
--                           back long ago
--             In psql you may instead run `\set lookback '30 days'` first and write
--             :'lookback'::interval in place of the literal.
--
-- Cost:       taiat_workers (small) for the workers; taiat_jobs_lease_owner_idx for the
--             jobs still leased; the partial indexes of running and ready jobs for the retried
--             ones (a job taken back goes to pending with pending_dependencies = 0); and one
--             range scan of taiat_job_history_completed_at_idx from the oldest lost worker's
--             last heartbeat (a job it held finished after that) for the finished ones.
WITH params AS (
  SELECT interval '90 seconds' AS lost_after,
         interval '7 days'     AS lookback
),
lost AS (
  SELECT w.*
    FROM params p
    JOIN taiat_workers w
      ON w.last_heartbeat_at <  now() - p.lost_after
     AND w.last_heartbeat_at >= now() - p.lookback
   WHERE w.stopped_at IS NULL
),
held AS (
  SELECT l.id                      AS worker_id,
         'still leased'::text      AS what,
         'live'::text              AS location,
         j.id                      AS job_id,
         j.name, j.job_type, j.status, j.attempts,
         j.started_at,
         j.lease_expires_at,
         NULL::timestamptz         AS taken_back_at,
         NULL::timestamptz         AS completed_at,
         j.error_message
    FROM lost l
    JOIN taiat_jobs j ON j.status = 'running' AND j.lease_owner = l.id
  UNION ALL
  SELECT l.id,
         CASE j.status WHEN 'pending' THEN 'taken back, retry pending' ELSE 'taken back, running again' END,
         'live',
         j.id, j.name, j.job_type, j.status, j.attempts, j.started_at,
         NULL, (e.value->>'at')::timestamptz, NULL, j.error_message
    FROM taiat_jobs j
   CROSS JOIN LATERAL jsonb_array_elements(j.attempt_errors) AS e
    JOIN lost l ON l.id = e.value->>'worker_id'
   WHERE (j.status = 'running' OR (j.status = 'pending' AND j.pending_dependencies = 0))
     AND j.attempt_errors <> '[]'::jsonb
     AND e.value->>'error' LIKE 'worker lost%'
     AND (e.value->>'at')::timestamptz >= l.last_heartbeat_at
  UNION ALL
  SELECT l.id, 'taken back, finished', 'history',
         h.job_id, h.name, h.job_type, h.status, h.attempts, h.started_at,
         NULL, (e.value->>'at')::timestamptz, h.completed_at, h.error_message
    FROM taiat_job_history h
   CROSS JOIN LATERAL jsonb_array_elements(h.attempt_errors) AS e
    JOIN lost l ON l.id = e.value->>'worker_id'
   WHERE h.completed_at >= (SELECT min(last_heartbeat_at) FROM lost)
     AND h.attempt_errors <> '[]'::jsonb
     AND e.value->>'error' LIKE 'worker lost%'
     AND (e.value->>'at')::timestamptz >= l.last_heartbeat_at
)
SELECT l.id                      AS worker_id,
       l.hostname,
       l.pid,
       l.started_at              AS worker_started_at,
       l.last_heartbeat_at,
       date_trunc('second', now() - l.last_heartbeat_at) AS silent_for,
       h.what,
       h.location,
       h.job_id,
       h.name                    AS job_name,
       h.job_type,
       h.status                  AS job_status,
       h.attempts,
       h.started_at              AS job_started_at,
       h.lease_expires_at,
       h.taken_back_at,
       h.completed_at            AS job_completed_at,
       h.error_message
  FROM lost l
  LEFT JOIN held h ON h.worker_id = l.id
 ORDER BY l.last_heartbeat_at, l.id, h.location DESC, h.job_id;
