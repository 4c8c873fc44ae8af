import { z } from 'zod';
import { parseOptions } from '../config/parse-options.js';
import { ValidationError } from '../errors.js';
import { JOB_STATUSES, type JsonValue } from '../jobs/model.js';
import { decodeCursor, type JobFilter } from '../store/index.js';

// The HTTP API's inputs: query strings and JSON bodies, checked with the library's rules and
// reported the library's way (a ValidationError naming the field).

const jsonObject = (field: string) => z.string().optional().transform((s, ctx): Record<string, JsonValue> | undefined => {
  if (s === undefined || s === '') return undefined;
  try {
    const v: unknown = JSON.parse(s);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, JsonValue>;
  } catch { /* reported below */ }
  ctx.addIssue({ code: 'custom', message: `${field} must be a JSON object, e.g. {"customer":42}` });
  return z.NEVER;
});

const time = z.string().optional().transform((s, ctx): Date | undefined => {
  if (s === undefined || s === '') return undefined;
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'must be a date and time, e.g. 2026-12-07T10:00:00Z' });
    return z.NEVER;
  }
  return d;
});

const text = z.string().max(200, 'must be at most 200 characters').optional().transform((s) => (s === '' ? undefined : s));

/** The job list's filters, as query parameters (also the selection of a bulk action). */
export const filterSchema = z.strictObject({
  status: z.enum(JOB_STATUSES, { error: `must be one of ${JOB_STATUSES.join(', ')}` }).optional(),
  queue: text,
  type: text,
  name: text,
  parent: text,
  since: time,
  until: time,
  payload: jsonObject('payload'),
  result: jsonObject('result'),
  location: z.enum(['live', 'history'], { error: 'must be live or history' }).optional(),
});

export type FilterQuery = z.output<typeof filterSchema>;

export function toJobFilter(q: FilterQuery): JobFilter {
  return {
    status: q.status, queue: q.queue, jobType: q.type, name: q.name, parentId: q.parent, since: q.since, until: q.until,
    payload: q.payload, result: q.result, location: q.location,
  };
}

const pageSchema = filterSchema.extend({
  limit: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(500, 'must be at most 500').default(50),
  after: z.string().max(1000).optional(),
});

/** The job list's query: filters, page size, cursor. */
export function parseJobListQuery(query: Record<string, string>) {
  const q = parseOptions(pageSchema, query, '');
  const after = q.after ? decodeCursor(q.after) : undefined;
  if (after === null) throw new ValidationError('after', 'is not a cursor this API returned');
  return { filter: toJobFilter(q), limit: q.limit, after };
}

export const graphQuerySchema = z.strictObject({
  depth: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(50, 'must be at most 50').default(3),
  max: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(5000, 'must be at most 5000').default(300),
});

export const wholeGraphQuerySchema = z.strictObject({
  max: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(5000, 'must be at most 5000').default(5000),
});

export const retryBodySchema = z.strictObject({ dependents: z.boolean({ error: 'must be true or false' }).default(false) });

export const bulkBodySchema = z.strictObject({
  filter: filterSchema,
  /** The count the person confirmed: the action is refused if the selection holds another. */
  expectedCount: z.number({ error: 'must be a number' }).int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'),
  dependents: z.boolean().default(false),
});

/** Reads a JSON body (an empty body is `{}`); a body that is not JSON is a ValidationError. */
export async function jsonBody(request: Request): Promise<unknown> {
  const raw = await request.text();
  if (raw.trim() === '') return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw new ValidationError('body', 'must be JSON');
  }
}
