--! Previous: sha1:6b710499315f4af102a52edce5e2ec14c3e339d8
--! Hash: sha1:4fe7709afbea99212e6ca67e06e5149f764fada1

-- The dashboard (issue 21): what people did through it, and per-minute counts of finished jobs.

-- Every action taken through the dashboard or its HTTP API: who, what, on what, when. Kept like
-- an audit log: nothing in taiat deletes from it.
CREATE TABLE taiat_dashboard_actions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  -- Who: the authenticated user or token label, or 'local' for an unauthenticated loopback server.
  actor varchar NOT NULL,
  -- What: retry, retry-with-dependents, cancel, bulk-retry, bulk-cancel, pause-queue, resume-queue,
  -- pause-schedule, resume-schedule, trigger-schedule.
  action varchar NOT NULL,
  -- On what: a job id, a queue or schedule name; for a bulk action the selection's filter.
  target varchar NOT NULL,
  -- The jobs it changed, and whatever else the action reports (the filter, the count confirmed).
  affected integer NOT NULL DEFAULT 0,
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX taiat_dashboard_actions_target_idx ON taiat_dashboard_actions (target, at DESC);
CREATE INDEX taiat_dashboard_actions_at_idx ON taiat_dashboard_actions (at DESC);

-- Finished jobs per minute and status, rolled up from history (minutes older than a few minutes,
-- once each): the charts read these, not history, and keep their figures after history is pruned.
CREATE TABLE taiat_finished_minutes (
  minute timestamptz NOT NULL,
  status varchar NOT NULL,
  n integer NOT NULL,
  PRIMARY KEY (minute, status)
);

-- A job's page draws its graph downstream and its children, finished ones too. Only jobs with
-- dependencies or a parent pay for these entries (the indexes are partial).
CREATE INDEX taiat_job_history_dependencies_idx ON taiat_job_history USING gin (dependencies) WHERE dependencies <> '[]'::jsonb;
CREATE INDEX taiat_job_history_parent_idx ON taiat_job_history (parent_id) WHERE parent_id IS NOT NULL;

-- The dashboard's job list, newest first, keyset-paged: live jobs in creation order. Pending ones
-- only: a claim leaves this index (the running jobs are few, and sorted), so only a create and a
-- retry pay for an entry.
CREATE INDEX taiat_jobs_pending_created_idx ON taiat_jobs (created_at, id) WHERE status = 'pending';
-- The dependents of a job that are no longer blocked (its dependencies completed): the graphs'
-- downstream. Blocked dependents are in taiat_jobs_dependencies_idx; jobs without dependencies
-- pay nothing.
CREATE INDEX taiat_jobs_released_dependencies_idx ON taiat_jobs USING gin (dependencies)
  WHERE pending_dependencies = 0 AND dependencies <> '[]'::jsonb;
