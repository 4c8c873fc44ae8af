--! Previous: sha1:adab2a17c818ca908ed02f004bb6b7107915eb21
--! Hash: sha1:22785234685261eae14f10589731c58274558b82

-- Fewer indexes on the hot path, measured by the benchmark (docs/performance.md): every claim
-- (a non-HOT update) and every move to history paid for these.

-- A worker renews its leases by primary key; nothing looks rows up by lease owner alone.
DROP INDEX taiat_jobs_lease_owner_idx;

-- Newest-first listing of live jobs is an admin query; it can sort.
DROP INDEX taiat_jobs_created_at_idx;

-- History rows use the job id as their id: one unique index on job_id is enough.
ALTER TABLE taiat_job_history DROP CONSTRAINT taiat_job_history_pkey;
DROP INDEX taiat_job_history_job_id_idx;
ALTER TABLE taiat_job_history ADD CONSTRAINT taiat_job_history_pkey PRIMARY KEY (job_id);
ALTER TABLE taiat_job_history ADD CONSTRAINT taiat_job_history_id_is_job_id CHECK (id = job_id);
