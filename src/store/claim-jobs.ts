import type { Sql, Tx } from '../db/connection.js';
import type { AllJobsView } from '../db/schema.js';
import type { Job, JsonValue } from '../jobs/model.js';
import { CLAIM_ORDER, READY } from './fragments.js';
import { historyByJobIds } from './dependencies.js';
import { jobFromRow } from './job-row.js';
import type { SchemaNames } from './schema-names.js';

// What a claim returns: the columns it did not just set to a known value (status, worker,
// updated_at = started_at; the history-only ones), as positional values: object rows cost the
// driver a property store grown one key at a time, per row. The known values are filled in below.
const CLAIMED_COLUMNS = [
  'id', 'job_type', 'name', 'description', 'payload', 'dependencies', 'priority', 'queue', 'max_retries',
  'retry_count', 'attempts', 'error_message', 'result', 'run_at', 'started_at', 'created_at', 'lease_expires_at',
  'parent_id', 'step', 'attempt_errors', 'timeout_seconds', 'retry_delay_seconds', 'unique_key', 'schedule_id',
  'schedule_tick', 'concurrency_key', 'trace_context',
].map((c) => `j.${c}`).join(', ');

type ClaimedRow = [
  id: string, jobType: string, name: string, description: string | null, payload: Job['payload'],
  dependencies: string[], priority: number, queue: string, maxRetries: number, retryCount: number, attempts: number,
  errorMessage: string | null, result: JsonValue | null, runAt: Date, startedAt: Date, createdAt: Date,
  leaseExpiresAt: Date, parentId: string | null, step: number, attemptErrors: AllJobsView['attempt_errors'],
  timeoutSeconds: number | null, retryDelaySeconds: number | null, uniqueKey: string | null, scheduleId: string | null,
  scheduleTick: Date | null, concurrencyKey: string | null, traceContext: string | null,
];

/** Jobs of queues with flow control to claim, besides the others (see `claimJobs`). */
export interface LimitedClaim {
  /** The worker's queues that had flow control at its last look (`readControlledQueues`). */
  queues: string[];
  /** At most this many of them (free slots under a running or rate limit: a job claimed ahead holds its place). */
  limit: number;
  /** Claimed before the queues without flow control (the producer alternates). */
  first: boolean;
}

/**
 * Claims up to `limit` ready jobs: those of queues without flow control in one statement (the
 * ready-jobs index in claim order, `FOR UPDATE SKIP LOCKED` so concurrent workers never wait for
 * or take the same row, the update to running under this worker's lease, counting the attempt),
 * which leaves out queues with flow control (a row in taiat_queues that pauses or limits them, as
 * the statement finds it); `limited` claims those through `taiat_claim_limited`, which keeps
 * their limits. `limited.first` says which goes first: the caller alternates, so that neither
 * kind of queue takes every free slot for ever.
 */
export async function claimJobs(
  sql: Sql, t: SchemaNames, workerId: string, queues: string[], limit: number, leaseSeconds: number, limited?: LimitedClaim,
): Promise<Job[]> {
  const claimLimitedUpTo = async (n: number) => (limited ? claimLimited(sql, t, workerId, { ...limited, limit: Math.min(limited.limit, n) }, leaseSeconds) : []);
  const first = limited?.first ? await claimLimitedUpTo(limit) : await claimOpen(sql, t, workerId, queues, limit, leaseSeconds);
  if (first.length >= limit) return first;
  const second = limited?.first ? await claimOpen(sql, t, workerId, queues, limit - first.length, leaseSeconds) : await claimLimitedUpTo(limit - first.length);
  return [...first, ...second];
}

async function claimLimited(sql: Sql, t: SchemaNames, workerId: string, limited: LimitedClaim, leaseSeconds: number): Promise<Job[]> {
  return claimLimitedJobs(sql, t, workerId, limited.queues, limited.limit, leaseSeconds);
}

/** A concurrency key's place that an outcome write freed (its job left running). */
export interface FreedPlace {
  queue: string;
  key: string;
}

/**
 * Claims up to `limit` ready jobs of `queues` (queues with flow control) through
 * `taiat_claim_limited`, which keeps their limits; in the caller's transaction when given one
 * (the hand-over of an outcome write). `freedPlaces`: look only at these keys' jobs, a key taking
 * no more than its places listed (the places a committed write freed: the key hand-over), not
 * at every key with ready jobs.
 */
export async function claimLimitedJobs(
  sql: Sql | Tx, t: SchemaNames, workerId: string, queues: readonly string[], limit: number, leaseSeconds: number,
  freedPlaces: readonly FreedPlace[] = [],
): Promise<Job[]> {
  if (queues.length === 0 || limit <= 0) return [];
  const rows = (await sql`
    SELECT ${sql.unsafe(CLAIMED_COLUMNS)}
      FROM ${sql(t.claimLimited)}(${queues as string[]}::varchar[], ${workerId}, ${limit}, ${leaseSeconds}::float8,
                                  ${freedPlaces.map((p) => p.key)}::varchar[], ${freedPlaces.map((p) => p.queue)}::varchar[]) j`
    .values()) as unknown as ClaimedRow[];
  return rows.map((r) => jobFromClaimed(r, workerId));
}

/** The claim of the queues without flow control: one statement. */
async function claimOpen(sql: Sql, t: SchemaNames, workerId: string, queues: string[], left: number, leaseSeconds: number): Promise<Job[]> {
  if (left <= 0 || queues.length === 0) return [];
  // One queue keeps the index scan ordered (no sort); `= ANY` over several queues needs a sort.
  // Either way the queues with flow control are left out, checked once per statement.
  const queueFilter = queues.length === 1
    ? sql`queue = ${queues[0]!} AND NOT EXISTS (SELECT 1 FROM ${sql(t.queues)} c WHERE c.name = ${queues[0]!} AND c.controlled)`
    : sql`queue = ANY(ARRAY(SELECT unnest(${queues}::text[]) EXCEPT SELECT name FROM ${sql(t.queues)} WHERE controlled))`;
  const rows = (await sql`
    WITH ready AS (
      SELECT id FROM ${sql(t.jobs)}
       WHERE ${sql.unsafe(READY)} AND ${queueFilter}
       ORDER BY ${sql.unsafe(CLAIM_ORDER)}
       LIMIT ${left}
       FOR UPDATE SKIP LOCKED
    )
    UPDATE ${sql(t.jobs)} j
       SET status = 'running', lease_owner = ${workerId},
           lease_expires_at = now() + make_interval(secs => ${leaseSeconds}::float8),
           attempts = j.attempts + 1, started_at = now(), updated_at = now(), cancel_requested_at = NULL,
           -- A job unique while pending frees its key at its first start (and never takes it again).
           unique_slot = CASE WHEN j.unique_while = 'pending' THEN NULL ELSE j.unique_slot END
     -- Not a join with ready: for a batch of hundreds the planner hashed it against a sequential
     -- scan of all of taiat_jobs.
     WHERE j.id = ANY(ARRAY(SELECT id FROM ready))
    RETURNING ${sql.unsafe(CLAIMED_COLUMNS)}`.values()) as unknown as ClaimedRow[];
  return rows.map((r) => jobFromClaimed(r, workerId));
}

function jobFromClaimed(r: ClaimedRow, workerId: string): Job {
  return jobFromRow({
    id: r[0], job_type: r[1], name: r[2], description: r[3], payload: r[4], dependencies: r[5], status: 'running',
    priority: r[6], queue: r[7], max_retries: r[8], retry_count: r[9], attempts: r[10], error_message: r[11],
    result: r[12], run_at: r[13], started_at: r[14], completed_at: null, duration_seconds: null, created_at: r[15],
    updated_at: r[14], worker_id: workerId, lease_expires_at: r[16], timeout_seconds: r[20], retry_delay_seconds: r[21],
    parent_id: r[17], step: r[18], cause_job_id: null, attempt_errors: r[19], location: 'live',
    unique_key: r[22], schedule_id: r[23], schedule_tick: r[24], concurrency_key: r[25],
    // A new attempt's progress starts empty (a retry's or a release's return to pending clears it).
    trace_context: r[26], progress: null,
  });
}

/** Completed dependencies' names, results, completion times and last attempts' trace contexts, keyed by dependency id. */
export type DependencyResults = Map<string, { name: string; result: JsonValue | null; traceContext: string | null; completedAt: Date }>;

/** Results of completed dependencies of the given jobs, keyed by dependency id. */
export async function readDependencyResults(sql: Sql, t: SchemaNames, jobs: Job[]): Promise<DependencyResults> {
  const ids = [...new Set(jobs.flatMap((j) => j.dependencies))];
  if (ids.length === 0) return new Map();
  const rows = await historyByJobIds<{ job_id: string; name: string; status: string; result: JsonValue | null; trace_context: string | null; completed_at: Date }>(
    sql, t, 'job_id, name, status, result, trace_context, completed_at', ids);
  return new Map(rows.filter((r) => r.status === 'completed').map((r) => [r.job_id, { name: r.name, result: r.result, traceContext: r.trace_context, completedAt: r.completed_at }]));
}

/**
 * A job's `ctx.dependencyResults`: each completed dependency's result under its id, and also
 * under its name when no other dependency of the job has that name (and no id is spelled so).
 */
export function resultsByIdAndName(job: Job, results: DependencyResults): Record<string, JsonValue | null> {
  const byKey: Record<string, JsonValue | null> = {};
  const names = new Map<string, number>();
  for (const id of job.dependencies) {
    const dep = results.get(id);
    if (!dep) continue;
    byKey[id] = dep.result;
    names.set(dep.name, (names.get(dep.name) ?? 0) + 1);
  }
  for (const id of job.dependencies) {
    const dep = results.get(id);
    if (dep && names.get(dep.name) === 1 && !(dep.name in byKey)) byKey[dep.name] = dep.result;
  }
  return byKey;
}
