/**
 * SQL text shared by the store's statements, written once: the conditions that sort pending jobs,
 * and the column lists that give rows of `taiat_jobs` and `taiat_job_history` the shape of the
 * `taiat_all_jobs` view, so that one mapper (`jobFromRow`) serves every read. Constants only:
 * they are spliced into statements with `sql.unsafe`, never built from input.
 */

/**
 * A pending job whose dependencies all completed and whose run time has come. The partial index
 * `taiat_jobs_ready_idx` holds the rows of its first two terms, in claim order.
 */
export const READY = `status = 'pending' AND pending_dependencies = 0 AND run_at <= now()`;
/**
 * When a ready job became ready: its run time, or its release if later. A release (its last
 * dependency completing) is the last thing to touch a pending row's updated_at before its claim
 * (as is a return to pending, which also moves run_at): `run_at` alone counted a dependent's wait
 * from its creation, while it was blocked.
 */
export const READY_SINCE = 'greatest(run_at, updated_at)';
/** A pending job waiting for dependencies. */
export const BLOCKED = `status = 'pending' AND pending_dependencies > 0`;
/** A pending job with no dependency left whose run time has not come (a retry's backoff, `runAt`). */
export const SCHEDULED = `status = 'pending' AND pending_dependencies = 0 AND run_at > now()`;
/** The order in which ready jobs are claimed (the ready index's order). */
export const CLAIM_ORDER = 'priority DESC, run_at, id';

/** The live columns of `taiat_jobs` in the view's shape. */
export const LIVE_JOB_COLUMNS = `id, job_type, name, description, payload, dependencies, status, priority, queue,
  max_retries, retry_count, attempts, error_message, result, run_at, started_at, completed_at,
  NULL::double precision AS duration_seconds, created_at, updated_at, lease_owner AS worker_id, lease_expires_at,
  parent_id, step, NULL::varchar AS cause_job_id, attempt_errors, timeout_seconds, retry_delay_seconds,
  'live' AS location, unique_key, schedule_id, schedule_tick, concurrency_key, trace_context, progress`;

/** The column list of `taiat_job_history` that `move-to-history` fills. */
export const HISTORY_INSERT_COLUMNS = `id, job_id, job_type, name, description, payload, dependencies, status,
  error_message, result, started_at, completed_at, duration_seconds, created_at, updated_at, priority, queue,
  run_at, max_retries, retry_count, attempts, timeout_seconds, retry_delay_seconds, worker_id,
  attempt_errors, parent_id, step, cause_job_id, unique_key, unique_while, schedule_id, schedule_tick, concurrency_key, trace_context, progress`;
