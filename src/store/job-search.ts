import type { Sql } from '../db/connection.js';
import type { AllJobsView } from '../db/schema.js';
import type { Job, JobStatus, JsonValue } from '../jobs/model.js';
import { jobFromRow } from './job-row.js';
import type { SchemaNames } from './schema-names.js';

/** What the dashboard's job list (and its bulk actions) select, every field optional. */
export interface JobFilter {
  status?: JobStatus | undefined;
  queue?: string | undefined;
  jobType?: string | undefined;
  /** Jobs whose name starts with this. */
  name?: string | undefined;
  /** Created at or after / before. */
  since?: Date | undefined;
  until?: Date | undefined;
  /** JSON the payload (or result) contains (`@>`): `{"customer": 42}` matches any payload with that key and value. */
  payload?: Record<string, JsonValue> | undefined;
  result?: Record<string, JsonValue> | undefined;
  /** Children of this job (created by it with `parentId`). */
  parentId?: string | undefined;
  /** Only live jobs or only finished ones (default both). */
  location?: 'live' | 'history' | undefined;
}

/** A page of jobs, newest first, and the cursor of the next page (null on the last one). */
export interface JobPage {
  jobs: Job[];
  next: string | null;
}

/** Where a page ends: the last row's creation time (to the microsecond: a graph's jobs share one) and id. */
export interface JobCursor {
  createdAt: string;
  id: string;
}

// A row's cursor time, to the microsecond, in UTC (the form CURSOR_TIME checks).
const CURSOR_AT = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;
const CURSOR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** The keyset cursor, opaque to callers. */
function encodeCursor(c: JobCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
}

/** Decodes a cursor; null when it is not one (the caller reports the field). */
export function decodeCursor(cursor: string): JobCursor | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') return null;
    return CURSOR_TIME.test(parsed[0]) ? { createdAt: parsed[0], id: parsed[1] } : null;
  } catch {
    return null;
  }
}

function conditions(sql: Sql, f: JobFilter) {
  const parts = [sql`true`];
  if (f.status) parts.push(sql`status = ${f.status}`);
  if (f.queue) parts.push(sql`queue = ${f.queue}`);
  if (f.jobType) parts.push(sql`job_type = ${f.jobType}`);
  if (f.name) parts.push(sql`name LIKE ${escapeLike(f.name) + '%'}`);
  if (f.since) parts.push(sql`created_at >= ${f.since}`);
  if (f.until) parts.push(sql`created_at < ${f.until}`);
  if (f.payload) parts.push(sql`payload @> ${sql.json(f.payload as never)}`);
  if (f.result) parts.push(sql`result @> ${sql.json(f.result as never)}`);
  if (f.parentId) parts.push(sql`parent_id = ${f.parentId}`);
  if (f.location) parts.push(sql`location = ${f.location}`);
  return parts.reduce((a, b) => sql`${a} AND ${b}`);
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

// The list reads each kind of job where an index keeps it in creation order: pending jobs
// (taiat_jobs_pending_created_idx), running ones (few: sorted), finished ones (history's
// created_at index); each part takes a page at most, and the parts are merged. A filter on one
// status reads only its part.
const PARTS: readonly (readonly JobStatus[])[] = [['pending'], ['running'], ['completed', 'failed', 'cancelled']];

/**
 * Jobs matching the filter, live and finished, newest first (creation time, then id), `limit` per
 * page; `after` is the previous page's `next`. Keyset pagination: a page costs the same deep in
 * the list as at its top. Children of a job (`parentId`) are read by the parent indexes.
 */
export async function searchJobs(sql: Sql, t: SchemaNames, filter: JobFilter, limit: number, after?: JobCursor): Promise<JobPage> {
  const page = (statuses: readonly JobStatus[] | null) => sql`
    (SELECT *, ${sql.unsafe(CURSOR_AT)} FROM ${sql(t.allJobs)}
      WHERE ${statuses ? sql`status = ANY(${statuses as JobStatus[]}) AND` : sql``} ${conditions(sql, filter)}
        -- As text: postgres.js would send a timestamptz parameter through a Date, to the millisecond.
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::text::timestamptz, ${after.id})` : sql``}
      ORDER BY created_at DESC, id DESC LIMIT ${limit + 1})`;
  const parts = filter.status ? [null] : PARTS;
  const rows = filter.parentId
    // A parent's children: found by parent_id first (an index), then sorted; never by walking the list.
    ? await sql<(AllJobsView & { cursor_at: string })[]>`
        WITH children AS MATERIALIZED (SELECT * FROM ${sql(t.allJobs)} WHERE parent_id = ${filter.parentId})
        SELECT *, ${sql.unsafe(CURSOR_AT)} FROM children
         WHERE ${conditions(sql, { ...filter, parentId: undefined })}
           ${after ? sql`AND (created_at, id) < (${after.createdAt}::text::timestamptz, ${after.id})` : sql``}
         ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`
    : await sql<(AllJobsView & { cursor_at: string })[]>`
        SELECT * FROM (${parts.map(page).reduce((a, b) => sql`${a} UNION ALL ${b}`)}) p ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`;
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return { jobs: shown.map(jobFromRow), next: rows.length > limit && last ? encodeCursor({ createdAt: last.cursor_at, id: last.id }) : null };
}

/** The ids of every job matching the filter (a bulk action's selection), at most `max` + 1, in no order. */
export async function selectJobIds(sql: Sql, t: SchemaNames, filter: JobFilter, max: number): Promise<{ id: string }[]> {
  return sql<{ id: string }[]>`
    SELECT id FROM ${sql(t.allJobs)} WHERE ${conditions(sql, filter)} LIMIT ${max + 1}`;
}
