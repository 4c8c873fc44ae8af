import type { Connection } from '../db/connection.js';
import type { AllJobsView } from '../db/schema.js';
import type { FinishedStatus, Job, JobStatus } from '../jobs/model.js';
import { CLAIM_ORDER, LIVE_JOB_COLUMNS, READY } from './fragments.js';
import { jobFromRow } from './job-row.js';
import type { SchemaNames } from './schema-names.js';

/** A job, live or finished; null when unknown. */
export async function readJob(conn: Connection, t: SchemaNames, id: string): Promise<Job | null> {
  const row = await conn.db.withSchema(t.schema).selectFrom('taiat_all_jobs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? jobFromRow(row) : null;
}

/** Ready jobs (see fragments.ts), in claim order. */
export async function readReadyJobs(conn: Connection, t: SchemaNames, filter: { queue?: string | undefined; limit: number }): Promise<Job[]> {
  const { sql } = conn;
  const rows = await sql<AllJobsView[]>`
    SELECT ${sql.unsafe(LIVE_JOB_COLUMNS)} FROM ${sql(t.jobs)}
     WHERE ${sql.unsafe(READY)} ${filter.queue ? sql`AND queue = ${filter.queue}` : sql``}
     ORDER BY ${sql.unsafe(CLAIM_ORDER)} LIMIT ${filter.limit}`;
  return rows.map(jobFromRow);
}

/** Jobs, live and finished, newest first. */
export async function readJobs(
  conn: Connection, t: SchemaNames,
  filter: { status?: JobStatus | undefined; queue?: string | undefined; limit: number },
): Promise<Job[]> {
  let query = conn.db.withSchema(t.schema).selectFrom('taiat_all_jobs').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.queue) query = query.where('queue', '=', filter.queue);
  return (await query.limit(filter.limit).execute()).map(jobFromRow);
}

/** Finished jobs, most recently finished first. */
export async function readHistory(
  conn: Connection, t: SchemaNames,
  filter: { status?: FinishedStatus | undefined; since?: Date | undefined; limit: number },
): Promise<Job[]> {
  let query = conn.db
    .withSchema(t.schema)
    .selectFrom('taiat_all_jobs')
    .selectAll()
    .where('location', '=', 'history')
    .orderBy('completed_at', 'desc')
    .orderBy('id', 'desc');
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.since) query = query.where('completed_at', '>=', filter.since);
  return (await query.limit(filter.limit).execute()).map(jobFromRow);
}
