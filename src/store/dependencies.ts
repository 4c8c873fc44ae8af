import type { Sql, Tx } from '../db/connection.js';
import { DependencyError } from '../errors.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Locks the live (pending, running) jobs among `ids`, in id order, flags them as having
 * dependents, and returns their ids. A job finishing concurrently is locked by its completer;
 * once that commits, this statement skips the row, and a read of history after it (a new
 * snapshot) sees the job finished.
 */
export async function lockLiveDependencies(tx: Tx, t: SchemaNames, ids: string[]): Promise<Set<string>> {
  const live = await tx<{ id: string }[]>`
    UPDATE ${tx(t.jobs)} SET has_dependents = true
     WHERE id IN (SELECT id FROM ${tx(t.jobs)} WHERE id = ANY(${ids}::text[]) ORDER BY id FOR UPDATE)
    RETURNING id`;
  return new Set(live.map((r) => r.id));
}

/** A finished job, as a dependency check needs it. */
export interface FinishedDependency {
  job_id: string;
  name: string;
  status: string;
}

/**
 * History rows by job id, sent unprepared. History often starts empty and grows by thousands a
 * second: the plan a connection caches for a prepared lookup while it is small (a sequential
 * scan) stays until the next ANALYZE, and then every lookup reads all of history (a 100,000-job
 * graph drained at ~1,000 jobs/s, 12x slower, through the dependency results of its claims).
 * Planned each time, it is a primary-key lookup per id. `columns` is a constant of the caller's;
 * the ids are a parameter; the schema is a name resolveSchema allows ([a-z0-9_]), quoted anyway.
 */
export function historyByJobIds<T extends object>(sql: Sql | Tx, t: SchemaNames, columns: string, ids: string[]): Promise<T[]> {
  return (sql as Sql).unsafe<T[]>(`SELECT ${columns} FROM "${t.schema}".taiat_job_history WHERE job_id = ANY($1::text[])`, [ids]);
}

/** The finished jobs among `ids`, from history. */
export function readFinished(tx: Sql | Tx, t: SchemaNames, ids: string[]): Promise<FinishedDependency[]> {
  return historyByJobIds<FinishedDependency>(tx, t, 'job_id, name, status', ids);
}

/**
 * Checks dependencies that lie outside a set of jobs being (re)inserted. Returns the ids that are
 * unfinished (live: pending or running). Live ones are locked in id order and flagged
 * `has_dependents`; completed ones are satisfied; failed, cancelled and unknown ones throw a
 * `DependencyError`. `neededBy` names the jobs that need a dependency, for the message.
 */
export async function resolveExternalDependencies(
  tx: Tx, t: SchemaNames,
  external: string[],
  neededBy: (dependencyIds: string[]) => string[],
): Promise<Set<string>> {
  if (external.length === 0) return new Set();
  const sorted = [...new Set(external)].sort();
  const unfinished = await lockLiveDependencies(tx, t, sorted);
  const rest = sorted.filter((id) => !unfinished.has(id));
  if (rest.length === 0) return unfinished;
  const finished = await readFinished(tx, t, rest);
  const bad = finished.filter((f) => f.status !== 'completed');
  if (bad.length > 0) {
    const list = bad.map((b) => `${b.job_id} (${b.name}) ${b.status}`).join(', ');
    throw new DependencyError(
      'TAIAT_DEPENDENCY_FAILED',
      `dependency already ${list}; needed by ${neededBy(bad.map((b) => b.job_id)).join(', ')}`,
      bad.map((b) => b.job_id),
    );
  }
  const known = new Set(finished.map((f) => f.job_id));
  const unknown = rest.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new DependencyError(
      'TAIAT_DEPENDENCY_UNKNOWN',
      `unknown dependency id(s): ${unknown.join(', ')}; needed by ${neededBy(unknown).join(', ')}`,
      unknown,
    );
  }
  return unfinished;
}

/**
 * Counts completed jobs off the dependents that wait for them, in the completing transaction;
 * jobs whose last dependency this was become ready and their queues are notified. Must run as
 * its own statement after the completion (a fresh snapshot sees dependents created meanwhile).
 */
export async function releaseDependents(tx: Tx, t: SchemaNames, completedIds: string[]): Promise<number> {
  if (completedIds.length === 0) return 0;
  // One index probe per completed job (`?` on the GIN index), counted per dependent: matching
  // each waiting row against the whole completed list (`?|`) cost a comparison per pair. The
  // row's own `pending_dependencies > 0` is checked again on update. The dependents are locked in
  // id order first, as the cascade locks them: updated in join order, a job depending on one
  // completing and one failing job could deadlock against it. The ready queues are notified in
  // the same statement.
  const [released] = await tx<{ n: number }[]>`
    WITH hits AS (
      SELECT d.id, count(*)::int AS n
        FROM unnest(${completedIds}::text[]) AS c(id)
       -- OFFSET 0 keeps this a per-id lookup: flattened, it let the planner of a table without
       -- statistics (just filled) scan the table once and test every pair.
       CROSS JOIN LATERAL (SELECT id FROM ${tx(t.jobs)} WHERE dependencies ? c.id AND pending_dependencies > 0 OFFSET 0) AS d
       GROUP BY d.id
    ), locked AS (
      SELECT id FROM ${tx(t.jobs)} WHERE id = ANY(ARRAY(SELECT id FROM hits)) AND pending_dependencies > 0 ORDER BY id FOR UPDATE
    ), released AS (
      UPDATE ${tx(t.jobs)} j
         SET pending_dependencies = j.pending_dependencies - hits.n, updated_at = now()
        FROM hits
       WHERE j.id = hits.id AND j.id = ANY(ARRAY(SELECT id FROM locked)) AND j.pending_dependencies > 0
      RETURNING j.queue, j.pending_dependencies = 0 AND j.run_at <= now() AS ready)
    SELECT (SELECT count(*) FROM released)::int AS n,
           (SELECT count(pg_notify(${t.readyChannel}, queue)) FROM (SELECT DISTINCT queue FROM released WHERE ready) q) AS notified`;
  return released!.n;
}
