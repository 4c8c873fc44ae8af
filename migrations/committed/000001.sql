--! Previous: -
--! Hash: sha1:adab2a17c818ca908ed02f004bb6b7107915eb21

-- taiat schema, version 1.
-- Column names and meanings of the Python original's README are kept so its audit queries run
-- unchanged; everything after "-- taiat additions" is new. docs/auditing.md is the contract.

CREATE TABLE taiat_jobs (
  id varchar PRIMARY KEY CHECK (id <> ''),
  job_type varchar NOT NULL CHECK (job_type <> ''),
  name varchar NOT NULL CHECK (name <> ''),
  description text,
  payload jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
  dependencies jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(dependencies) = 'array'),
  max_retries integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
  retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  status varchar NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running')),
  error_message text,
  result jsonb,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- taiat additions
  priority integer NOT NULL DEFAULT 2,
  queue varchar NOT NULL DEFAULT 'default' CHECK (queue <> ''),
  run_at timestamptz NOT NULL DEFAULT now(),
  -- Number of entries of `dependencies` not completed yet: a job is ready when this is 0, so
  -- finding ready jobs never reads blocked ones. Kept in step with `dependencies` by taiat.
  pending_dependencies integer NOT NULL DEFAULT 0 CHECK (pending_dependencies >= 0),
  -- Whether any job lists this one in its dependencies: completing a job without dependents
  -- then costs nothing for dependency handling.
  has_dependents boolean NOT NULL DEFAULT false,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  timeout_seconds double precision CHECK (timeout_seconds > 0),
  retry_delay_seconds double precision CHECK (retry_delay_seconds >= 0),
  lease_owner varchar,
  lease_expires_at timestamptz,
  cancel_requested_at timestamptz,
  attempt_errors jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(attempt_errors) = 'array'),
  parent_id varchar,
  step integer NOT NULL DEFAULT 0 CHECK (step >= 0),
  CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- Ready jobs in claim order: the claim reads this index and nothing else.
CREATE INDEX taiat_jobs_ready_idx ON taiat_jobs (queue, priority DESC, run_at, id)
  WHERE status = 'pending' AND pending_dependencies = 0;
-- Dependents of a job, among the jobs still waiting on something.
CREATE INDEX taiat_jobs_dependencies_idx ON taiat_jobs USING gin (dependencies)
  WHERE pending_dependencies > 0;
-- Expired leases (crashed workers) and a worker's own leases.
CREATE INDEX taiat_jobs_lease_expiry_idx ON taiat_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX taiat_jobs_lease_owner_idx ON taiat_jobs (lease_owner) WHERE status = 'running';
CREATE INDEX taiat_jobs_parent_idx ON taiat_jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX taiat_jobs_created_at_idx ON taiat_jobs (created_at);

CREATE TABLE taiat_job_history (
  id varchar PRIMARY KEY,
  job_id varchar NOT NULL,
  job_type varchar NOT NULL,
  name varchar NOT NULL,
  description text,
  payload jsonb NOT NULL DEFAULT '{}',
  dependencies jsonb NOT NULL DEFAULT '[]',
  status varchar NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled')),
  error_message text,
  result jsonb,
  started_at timestamptz,
  completed_at timestamptz NOT NULL DEFAULT now(),
  -- Sub-second precision; NULL only for a job that never started (cancelled while pending).
  duration_seconds double precision,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- taiat additions
  updated_at timestamptz NOT NULL DEFAULT now(),
  priority integer NOT NULL DEFAULT 2,
  queue varchar NOT NULL DEFAULT 'default',
  run_at timestamptz NOT NULL DEFAULT now(),
  max_retries integer NOT NULL DEFAULT 3,
  retry_count integer NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  timeout_seconds double precision,
  retry_delay_seconds double precision,
  worker_id varchar,
  attempt_errors jsonb NOT NULL DEFAULT '[]',
  parent_id varchar,
  step integer NOT NULL DEFAULT 0,
  -- For a job cancelled because a job it depends on failed or was cancelled: that job's id.
  cause_job_id varchar
);

CREATE UNIQUE INDEX taiat_job_history_job_id_idx ON taiat_job_history (job_id);
CREATE INDEX taiat_job_history_completed_at_idx ON taiat_job_history (completed_at);
CREATE INDEX taiat_job_history_created_at_idx ON taiat_job_history (created_at);
CREATE INDEX taiat_job_history_status_idx ON taiat_job_history (status, completed_at);
CREATE INDEX taiat_job_history_cause_idx ON taiat_job_history (cause_job_id)
  WHERE cause_job_id IS NOT NULL;

CREATE TABLE taiat_workers (
  id varchar PRIMARY KEY,
  hostname varchar NOT NULL,
  pid integer NOT NULL,
  queues jsonb NOT NULL DEFAULT '[]',
  concurrency integer NOT NULL,
  version varchar NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);
CREATE INDEX taiat_workers_heartbeat_idx ON taiat_workers (last_heartbeat_at);

-- One row per job wherever it is: live (pending, running) or finished (history).
CREATE VIEW taiat_all_jobs AS
SELECT id, job_type, name, description, payload, dependencies, status, priority, queue,
       max_retries, retry_count, attempts, error_message, result, run_at, started_at,
       completed_at, NULL::double precision AS duration_seconds, created_at, updated_at,
       lease_owner AS worker_id, lease_expires_at, parent_id, step, NULL::varchar AS cause_job_id,
       attempt_errors, timeout_seconds, retry_delay_seconds, 'live'::varchar AS location
  FROM taiat_jobs
UNION ALL
SELECT job_id, job_type, name, description, payload, dependencies, status, priority, queue,
       max_retries, retry_count, attempts, error_message, result, run_at, started_at,
       completed_at, duration_seconds, created_at, updated_at,
       worker_id, NULL::timestamptz, parent_id, step, cause_job_id,
       attempt_errors, timeout_seconds, retry_delay_seconds, 'history'::varchar
  FROM taiat_job_history;
