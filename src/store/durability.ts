import { isConnectionError, type Sql } from '../db/connection.js';
import { DatabaseUnavailableError, DuplicateJobIdError } from '../errors.js';
import type { Job } from '../jobs/model.js';
import type { SchemaNames } from './schema-names.js';

/*
 * New jobs become visible one WAL flush sooner. Postgres makes a synchronous commit visible only
 * after its WAL flush, so a worker woken by a create waited for the creator's flush and then for
 * its own claim's: two flushes between `createJob` and the executor. A create instead commits with
 * synchronous_commit off (visible, and its notification sent, at once), then flushes the WAL past
 * its commit with a one-record synchronous transaction before the call returns. Nothing that
 * matters loses durability:
 * - the caller: the call returns only after the flush, which also checks that the jobs survived
 *   (a crash and recovery between the commit and the flush would have taken them back, and the
 *   flush on the recovered server would not know);
 * - an executor: a claim is a synchronous commit later in the same WAL, so its flush covers the
 *   job's insert, and no executor starts on a job a crash could take back;
 * - anything written because of the job (a dependent, a cancellation): the same, for its commit.
 * What a crash can take back is a job a reader saw (`--status`, a SELECT, a duplicate-id check)
 * before its creator's flush; the creator then gets an error, as it does whenever a commit's
 * answer is lost, and a duplicate-id error is only reported once the duplicate is durable.
 */

const early = new WeakMap<Sql, Promise<boolean>>();

/**
 * Whether creates on this pool may commit before their flush: the flush statement is allowed by
 * this server and role (it is unless EXECUTE on `pg_logical_emit_message` was revoked). Asked
 * once per pool; a connection failure is not remembered.
 */
export function commitsEarly(sql: Sql): Promise<boolean> {
  let answer = early.get(sql);
  if (answer === undefined) {
    answer = sql`SELECT pg_logical_emit_message(true, 'taiat', 'probe')`.then(
      () => true,
      (error: unknown) => {
        if (!isConnectionError(error)) return false;
        early.delete(sql);
        throw error;
      },
    );
    early.set(sql, answer);
  }
  return answer;
}

/**
 * What a flush must find: the first job of a create, created at `createdAt` (to the millisecond),
 * or any of the jobs a duplicate-id error names.
 */
export type Witness = { id: string; createdAt: Date } | { ids: string[] };

/**
 * Makes durable every commit that returned before this call, and confirms that `witness` is still
 * there. A transactional logical message (one small WAL record, no table touched) commits
 * synchronously, and a commit's flush covers everything earlier in the WAL. Where the message is
 * no longer allowed (EXECUTE revoked after the pool's first create), later creates commit
 * synchronously and this one flushes with another write.
 * Throws `DatabaseUnavailableError` when the witness is gone: the database restarted before the
 * flush, and nothing of the call was kept.
 */
async function makeDurable(sql: Sql, t: SchemaNames, witness: Witness): Promise<void> {
  // One statement per shape of witness, each without optional parts: a single statement for both
  // (`$2 IS NULL OR ...`) was planned anew on every call, the plan cache finding no generic plan
  // as cheap as a custom one.
  const ids = 'id' in witness ? [witness.id] : witness.ids;
  const survived = () => 'id' in witness
    ? sql`EXISTS (SELECT 1 FROM ${sql(t.allJobs)}
                   WHERE id = ${witness.id} AND date_trunc('milliseconds', created_at) = ${witness.createdAt}::timestamptz)`
    : sql`EXISTS (SELECT 1 FROM ${sql(t.allJobs)} WHERE id = ANY(${witness.ids}::text[]))`;
  let rows: { survived: boolean }[];
  try {
    rows = await sql<{ survived: boolean }[]>`SELECT pg_logical_emit_message(true, 'taiat', 'flush'), ${survived()} AS survived`;
  } catch (error) {
    if (isConnectionError(error)) throw error;
    early.set(sql, Promise.resolve(false));
    // Any synchronous commit that writes WAL flushes it: here the witness's row, rewritten
    // unchanged. A row already claimed or finished was flushed by that commit.
    rows = await sql<{ survived: boolean }[]>`
      WITH rewritten AS (UPDATE ${sql(t.jobs)} SET updated_at = updated_at WHERE id = ANY(${ids}::text[]))
      SELECT ${survived()} AS survived`;
  }
  if (!rows[0]?.survived) {
    throw new DatabaseUnavailableError(
      'the database restarted before the new jobs reached its disk; none of them was created (creating them again is safe)',
    );
  }
}

/**
 * Runs a create, then, if it committed early, makes it durable before returning. A duplicate id
 * it met may be another create's row not yet flushed: the error is reported once that row is
 * durable.
 */
export async function durably(sql: Sql, t: SchemaNames, early: boolean, create: () => Promise<Job[]>): Promise<Job[]> {
  let created: Job[];
  try {
    created = await create();
  } catch (error) {
    if (early && error instanceof DuplicateJobIdError) await makeDurable(sql, t, { ids: error.jobIds });
    throw error;
  }
  if (early && created.length > 0) await makeDurable(sql, t, { id: created[0]!.id, createdAt: created[0]!.createdAt });
  return created;
}
