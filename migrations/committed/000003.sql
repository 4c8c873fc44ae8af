--! Previous: sha1:22785234685261eae14f10589731c58274558b82
--! Hash: sha1:022ff363c52decd65855720d0d4a18dae695b70e

-- The dependents index writes straight into the index (no pending list). With the default
-- fastupdate, rows inserted since the last vacuum sit in an unsorted pending list that every
-- lookup scans in full: releasing the dependents of 500 just-created chain steps took 38 ms of
-- index lookups (75 us each) instead of 1 ms. Only blocked jobs are in this partial index, so
-- the extra insert cost falls on creating jobs that wait.
ALTER INDEX taiat_jobs_dependencies_idx SET (fastupdate = off);
-- Entries already in the pending list move into the index now rather than at the next vacuum.
SELECT gin_clean_pending_list('taiat_jobs_dependencies_idx'::regclass);
