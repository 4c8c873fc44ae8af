import type { Sql } from '../db/connection.js';
import { isConnectionError } from '../db/connection.js';

/*
 * New jobs become visible one WAL flush sooner. Postgres makes a synchronous commit visible only
 * after its WAL flush, so a worker woken by a create waited for the creator's flush and then for
 * its own claim's: two flushes between `createJob` and the executor. A create instead commits with
 * synchronous_commit off (visible, and its notification sent, at once), then flushes the WAL past
 * its commit with a one-record synchronous transaction before the call returns. Nothing that
 * matters loses durability:
 * - the caller: the call returns only after the flush;
 * - an executor: a claim is a synchronous commit later in the same WAL, so its flush covers the
 *   job's insert, and no executor starts on a job a crash could take back;
 * - anything written because of the job (a dependent, a cancellation): the same, for its commit.
 * What a crash can take back is a job seen by a reader (`--status`, a SELECT) in the ~1 ms before
 * its flush, whose creator then gets an error, as it does whenever a commit's answer is lost.
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
    answer = flushWal(sql).then(
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
 * Flushes the WAL past every commit that returned before this call: a transactional logical
 * message (one small WAL record, no table touched) commits synchronously, and a commit's flush
 * covers everything earlier in the WAL.
 */
export async function flushWal(sql: Sql): Promise<void> {
  await sql`SELECT pg_logical_emit_message(true, 'taiat', 'flush')`;
}
