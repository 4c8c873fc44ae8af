import type { Tx } from '../db/connection.js';
import type { FinishedStatus, JsonValue } from '../jobs/model.js';
import { HISTORY_INSERT_COLUMNS } from './fragments.js';
import type { SchemaNames } from './schema-names.js';

/** How one job ends: the row it leaves in history. */
export interface FinalOutcome {
  id: string;
  status: FinishedStatus;
  errorMessage?: string | null;
  result?: JsonValue | null;
  causeJobId?: string | null;
  /** Appended to the job's per-attempt errors (a failed last attempt). */
  attemptError?: string | null;
  /** The traceparent of the last attempt's span, kept in history for the dependents to link to. */
  traceContext?: string | null;
}

/**
 * Which rows a move may touch: pending ones (cancel, cascade), running ones leased by this worker
 * (completion), or running ones whose lease expired (rescue of a lost worker's jobs).
 */
export type MoveGuard = { pending: true } | { workerId: string } | { expired: true };

export interface MovedJob {
  id: string;
  name: string;
  status: FinishedStatus;
  has_dependents: boolean;
  parent_id: string | null;
  queue: string;
  job_type: string;
  attempts: number;
}

/**
 * Moves jobs from `taiat_jobs` to `taiat_job_history` in one statement: the delete and the
 * insert commit together, so a job is always in exactly one of the two tables. Rows that no longer
 * match the guard (finished elsewhere, lease lost to a rescuer) are left alone and not returned.
 */
export async function moveToHistory(tx: Tx, t: SchemaNames, outcomes: FinalOutcome[], guard: MoveGuard): Promise<MovedJob[]> {
  if (outcomes.length === 0) return [];
  const kind = 'pending' in guard ? 'pending' : 'expired' in guard ? 'expired' : 'lease';
  const workerId = 'workerId' in guard ? guard.workerId : null;
  // The outcomes travel as columns (typed arrays, the results as one JSON array), the ids once: a
  // JSON document of outcome objects was larger, written and parsed per job (docs/performance.md).
  const col = <T>(f: (o: FinalOutcome) => T): T[] => outcomes.map(f);
  // Without tracing no outcome has a context: the column is not sent (ROWS FROM pads it with NULLs).
  const traces = outcomes.some((o) => o.traceContext) ? col((o) => o.traceContext ?? null) : null;
  return tx<MovedJob[]>`
    WITH outcome AS (
      SELECT o.id, o.status, o.error_message, NULLIF(o.result, 'null') AS result, o.cause_job_id, o.attempt_error, o.trace_context
        FROM ROWS FROM (
               unnest(${col((o) => o.id)}::text[]), unnest(${col((o) => o.status)}::text[]),
               unnest(${col((o) => o.errorMessage ?? null)}::text[]),
               jsonb_array_elements(${JSON.stringify(col((o) => o.result ?? null))}::text::jsonb),
               unnest(${col((o) => o.causeJobId ?? null)}::text[]), unnest(${col((o) => o.attemptError ?? null)}::text[]),
               unnest(${traces}::text[])
             ) AS o(id, status, error_message, result, cause_job_id, attempt_error, trace_context)
    ), moved AS (
      -- id = ANY keeps the planner on the primary key: a join on the outcomes alone got a
      -- sequential scan of taiat_jobs per batch under generic plans.
      DELETE FROM ${tx(t.jobs)} j USING outcome o
       WHERE j.id = ANY(ARRAY(SELECT id FROM outcome)) AND j.id = o.id
         AND CASE ${kind}::text
               WHEN 'pending' THEN j.status = 'pending'
               WHEN 'expired' THEN j.status = 'running' AND j.lease_expires_at < now()
               ELSE j.status = 'running' AND j.lease_owner = ${workerId}::text END
      RETURNING j.*, o.status AS new_status, o.error_message AS new_error, o.result AS new_result,
                o.cause_job_id AS new_cause, o.attempt_error AS new_attempt_error, o.trace_context AS new_trace
    ), inserted AS (
      INSERT INTO ${tx(t.history)} (${tx.unsafe(HISTORY_INSERT_COLUMNS)})
      SELECT id, id, job_type, name, description, payload, dependencies, new_status, new_error,
             new_result, started_at, now(),
             CASE WHEN status = 'running' THEN extract(epoch FROM clock_timestamp() - started_at) END,
             created_at, now(), priority, queue, run_at, max_retries, retry_count, attempts,
             timeout_seconds, retry_delay_seconds, lease_owner,
             CASE WHEN new_attempt_error IS NULL THEN attempt_errors
                  ELSE attempt_errors || jsonb_build_array(jsonb_build_object(
                         'attempt', attempts, 'error', new_attempt_error, 'at', now(), 'worker_id', lease_owner))
             END,
             parent_id, step, new_cause, unique_key, unique_while, schedule_id, schedule_tick, concurrency_key,
             coalesce(new_trace, trace_context), progress
        FROM moved
    )
    SELECT id, name, new_status AS status, has_dependents, parent_id, queue, job_type, attempts FROM moved`;
}
