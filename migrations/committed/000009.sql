--! Previous: sha1:4fe7709afbea99212e6ca67e06e5149f764fada1
--! Hash: sha1:7955745839bf4887f78bd4c44f56fe5de855a96a

-- Observability (issue 23): the trace context a job was created in (a W3C traceparent), so that
-- its attempts join the creator's trace, and the last progress an attempt reported.
ALTER TABLE taiat_jobs ADD COLUMN trace_context varchar, ADD COLUMN progress jsonb;
ALTER TABLE taiat_job_history ADD COLUMN trace_context varchar, ADD COLUMN progress jsonb;

-- The audit view gains both, at its end.
CREATE OR REPLACE VIEW taiat_all_jobs AS
SELECT id, job_type, name, description, payload, dependencies, status, priority, queue,
       max_retries, retry_count, attempts, error_message, result, run_at, started_at,
       completed_at, NULL::double precision AS duration_seconds, created_at, updated_at,
       lease_owner AS worker_id, lease_expires_at, parent_id, step, NULL::varchar AS cause_job_id,
       attempt_errors, timeout_seconds, retry_delay_seconds, 'live'::varchar AS location,
       unique_key, schedule_id, schedule_tick, concurrency_key, trace_context, progress
  FROM taiat_jobs
UNION ALL
SELECT job_id, job_type, name, description, payload, dependencies, status, priority, queue,
       max_retries, retry_count, attempts, error_message, result, run_at, started_at,
       completed_at, duration_seconds, created_at, updated_at,
       worker_id, NULL::timestamptz, parent_id, step, cause_job_id,
       attempt_errors, timeout_seconds, retry_delay_seconds, 'history'::varchar,
       unique_key, schedule_id, schedule_tick, concurrency_key, trace_context, progress
  FROM taiat_job_history;
