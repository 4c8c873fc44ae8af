/**
 * Column lists that give rows of `taiat_jobs` and `taiat_job_history` the shape of the
 * `taiat_all_jobs` view, so one mapper (`jobFromRow`) serves every query.
 */
/** The live columns in view shape; `alias` qualifies them (e.g. `j`) where a join needs it. */
export function liveJobColumns(alias = ''): string {
  const c = (name: string) => (alias ? `${alias}.${name}` : name);
  return [
    'id', 'job_type', 'name', 'description', 'payload', 'dependencies', 'status', 'priority', 'queue',
    'max_retries', 'retry_count', 'attempts', 'error_message', 'result', 'run_at', 'started_at', 'completed_at',
  ].map(c).join(', ') + `, NULL::double precision AS duration_seconds, ${c('created_at')}, ${c('updated_at')},
    ${c('lease_owner')} AS worker_id, ${c('lease_expires_at')}, ${c('parent_id')}, ${c('step')},
    NULL::varchar AS cause_job_id, ${c('attempt_errors')}, ${c('timeout_seconds')}, ${c('retry_delay_seconds')},
    'live' AS location`;
}

export const LIVE_JOB_COLUMNS = liveJobColumns();

export const HISTORY_JOB_COLUMNS = `job_id AS id, job_type, name, description, payload, dependencies, status,
  priority, queue, max_retries, retry_count, attempts, error_message, result, run_at, started_at,
  completed_at, duration_seconds, created_at, updated_at, worker_id, NULL::timestamptz AS lease_expires_at,
  parent_id, step, cause_job_id, attempt_errors, timeout_seconds, retry_delay_seconds, 'history' AS location`;

/** The column list of `taiat_job_history` that `move-to-history` fills. */
export const HISTORY_INSERT_COLUMNS = `id, job_id, job_type, name, description, payload, dependencies, status,
  error_message, result, started_at, completed_at, duration_seconds, created_at, updated_at, priority, queue,
  run_at, max_retries, retry_count, attempts, timeout_seconds, retry_delay_seconds, worker_id,
  attempt_errors, parent_id, step, cause_job_id`;
