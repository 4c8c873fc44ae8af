import { DependencyError, DuplicateJobIdError, TaiatError, ValidationError, type DependencyErrorCode } from '../errors.js';
import { checkGraph } from '../jobs/graph.js';
import type { Job } from '../jobs/model.js';
import type { ValidatedJob } from '../jobs/validation.js';
import { inSavepointOf } from './app-transaction.js';
import { jobFromCreated, jobFromRow } from './job-row.js';
import type { AllJobsView } from '../db/schema.js';
import type { SchemaNames } from './schema-names.js';

/**
 * Creates validated jobs inside an application's transaction (`createJobs(jobs, { tx })`), through
 * the schema's SQL function, so that they commit with the application's rows or not at all, and
 * wake workers only when they commit. A savepoint around the call keeps the application's
 * transaction usable when the jobs are refused (an unknown dependency, a duplicate id): the
 * error is a `TaiatError`, as from any other create.
 */
export async function createJobsInTransaction(tx: unknown, t: SchemaNames, jobs: ValidatedJob[], traceContext: string | null = null): Promise<Job[]> {
  const inSavepoint = inSavepointOf(tx);
  if (jobs.length === 0) return [];
  checkGraph(jobs);
  // Generated ids are left to the function (a keyed job takes none); chosen ones are sent.
  const input = JSON.stringify(jobs.map((j) => ({
    id: j.idChosen ? j.id : undefined, jobType: j.jobType, name: j.name, description: j.description, payload: j.payload,
    dependencies: j.dependencies, priority: j.priority, maxRetries: j.maxRetries, queue: j.queue,
    runAt: j.runAt?.toISOString() ?? null, timeoutSeconds: j.timeoutSeconds, retryDelaySeconds: j.retryDelaySeconds,
    ...(j.uniqueKey === null ? {} : {
      uniqueKey: j.uniqueKey, uniqueWhile: j.uniqueWhile, uniqueMode: j.uniqueMode,
      ...(j.uniquePeriodSeconds === null ? {} : { uniquePeriodSeconds: j.uniquePeriodSeconds }),
    }),
    ...(j.concurrencyKey === null ? {} : { concurrencyKey: j.concurrencyKey }),
  })));
  try {
    return await inSavepoint(async (query) => {
      // The graph was checked above: the function skips its own cycle search.
      const rows = await query(`SELECT id, created, now() AS created_at FROM "${t.schema}".taiat_insert_jobs($1::text::jsonb, false, true)`, [input]);
      const createdAt = new Date(rows[0]!.created_at as string | Date);
      // The function takes no trace context (its input is the jobs): stamped after, with tracing on only.
      if (traceContext !== null) {
        const ids = rows.filter((r) => r.created).map((r) => r.id as string);
        await query(`UPDATE "${t.schema}".taiat_jobs SET trace_context = $1 WHERE id = ANY($2::text[])`, [traceContext, ids]);
      }
      const held = rows.filter((r) => !r.created).map((r) => r.id as string);
      const holders = new Map<string, Job>();
      if (held.length > 0) {
        for (const row of await query(`SELECT * FROM "${t.schema}".taiat_all_jobs WHERE id = ANY($1::text[])`, [held])) {
          holders.set(row.id as string, jobFromRow(row as unknown as AllJobsView));
        }
      }
      return jobs.map((j, i) => {
        const row = rows[i]!;
        return row.created
          ? jobFromCreated({ ...j, id: row.id as string }, createdAt, null, traceContext)
          : { ...holders.get(row.id as string)!, deduplicated: true };
      });
    });
  } catch (error) {
    throw taiatErrorOf(error, jobs.flatMap((j) => j.dependencies));
  }
}

/**
 * The dependencies, of those asked for, that a refusal names: `unknown dependency id(s): a, b;
 * needed by ...` or `dependency already a (name) failed, ...; needed by ...` (ids are free text:
 * matched against the candidates, not split).
 */
function namedIds(reason: string, dependencies: string[]): string[] {
  const list = `, ${reason.replace(/^(unknown dependency id\(s\): |dependency already )/, '').replace(/; needed by .*$/s, '')}, `;
  return [...new Set(dependencies)].filter((d) => list.includes(`, ${d}, `) || list.includes(`, ${d} (`)).sort();
}

/**
 * The `TaiatError` a refusal of taiat's SQL functions stands for: their errors carry the taiat
 * code in DETAIL and the field in HINT; a dependency error's ids are those of `dependencies` it
 * names. Other errors pass through.
 */
export function taiatErrorOf(error: unknown, dependencies: string[] = []): unknown {
  const e = error as { message?: string; detail?: string; hint?: string };
  const code = e.detail;
  if (typeof code !== 'string' || !code.startsWith('TAIAT_') || typeof e.message !== 'string') return error;
  const field = e.hint ?? '';
  const reason = field && e.message.startsWith(`${field}: `) ? e.message.slice(field.length + 2) : e.message;
  switch (code) {
    case 'TAIAT_INVALID_INPUT':
      return new ValidationError(field, reason);
    case 'TAIAT_DUPLICATE_JOB_ID':
      return new DuplicateJobIdError(reason.replace(/^job id already exists: /, '').split(', '));
    case 'TAIAT_DEPENDENCY_UNKNOWN':
    case 'TAIAT_DEPENDENCY_SELF':
    case 'TAIAT_DEPENDENCY_CYCLE':
    case 'TAIAT_DEPENDENCY_FAILED':
      return new DependencyError(code as DependencyErrorCode, reason,
        code === 'TAIAT_DEPENDENCY_UNKNOWN' || code === 'TAIAT_DEPENDENCY_FAILED' ? namedIds(reason, dependencies) : []);
    default:
      return new TaiatError('TAIAT_INVALID_INPUT', e.message, { cause: error });
  }
}
