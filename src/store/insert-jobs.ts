import type { Sql, Tx } from '../db/connection.js';
import { DuplicateJobIdError } from '../errors.js';
import type { Job } from '../jobs/model.js';
import type { ValidatedJob } from '../jobs/validation.js';
import { readFinished, resolveExternalDependencies } from './dependencies.js';
import { jobFromCreated } from './job-row.js';
import { announceCreated } from './notify.js';
import type { SchemaNames } from './schema-names.js';

export interface CreateOptions {
  /** Set on jobs created from inside an executor (`ctx.createJobs`). */
  parentId?: string | null;
  /** The W3C traceparent of the span that creates the jobs (tracing on). */
  traceContext?: string | null;
}

export interface InsertMode extends CreateOptions {
  /** Commit without waiting for the WAL flush; the caller flushes after (see durability.ts). */
  early: boolean;
}

/**
 * Inserts a validated graph of jobs, set-based (a fixed number of statements whatever the number
 * of jobs), inside a transaction unless the jobs are independent (see `createJobs`). Dependencies
 * inside the call count as unfinished; outside it, a live dependency (pending, running) counts as
 * unfinished and is marked as having dependents, a completed one is satisfied, a failed or
 * cancelled one is rejected, and an unknown one is rejected. Throws (the transaction then rolls
 * back) on any of these.
 */
export async function insertJobs(tx: Sql | Tx, t: SchemaNames, jobs: ValidatedJob[], options: InsertMode): Promise<Job[]> {
  if (jobs.length === 0) return [];

  // Only dependencies inside the call count as unfinished without asking the database: the set of
  // call ids is built only when some job has dependencies (20,000 independent jobs skip it).
  const unfinished = new Set<string>();
  if (jobs.some((j) => j.dependencies.length > 0)) {
    const inCall = new Set(jobs.map((j) => j.id));
    const external = jobs.flatMap((j) => j.dependencies.filter((d) => !inCall.has(d)));
    // A job is named as its caller knows it: by its id when the caller chose it, else by its name.
    const live = await resolveExternalDependencies(tx as Tx, t, external, (ids) =>
      jobs.filter((j) => j.dependencies.some((d) => ids.includes(d))).map((j) => (j.idChosen ? j.id : `'${j.name}'`)),
    );
    for (const id of [...live, ...inCall]) unfinished.add(id);
  }

  const chosen = jobs.filter((j) => j.idChosen).map((j) => j.id);
  if (chosen.length > 0) {
    const taken = await tx<{ id: string }[]>`SELECT id FROM ${tx(t.jobs)} WHERE id = ANY(${chosen}::text[])`;
    if (taken.length > 0) throw new DuplicateJobIdError(taken.map((t) => t.id));
  }

  const rows = jobRows(tx, jobs, unfinished);
  let createdAt: Date;
  try {
    // No ON CONFLICT: speculative insertion doubled the statement's cost. Generated ids are unique;
    // chosen ones were checked above, and a concurrent creator of the same id hits the primary key.
    const [inserted] = await tx<{ now: Date }[]>`
      WITH inserted AS (
        INSERT INTO ${tx(t.jobs)} (${tx.unsafe(rows.columns)}, parent_id, trace_context)
        ${rows.select}, ${options.parentId ?? null}::text, ${options.traceContext ?? null}::text FROM ${rows.from}
        RETURNING 1)
      SELECT now() AS now, ${announceCreated(tx, t, rows.readyQueues, options.early)} FROM inserted LIMIT 1`;
    createdAt = inserted!.now;
  } catch (error) {
    const e = error as { code?: string; constraint_name?: string; detail?: string };
    if (e.code !== '23505' || e.constraint_name !== 'taiat_jobs_pkey') throw error;
    const id = /^Key \(id\)=\((.*)\) already exists\.$/s.exec(e.detail ?? '')?.[1];
    throw new DuplicateJobIdError(id !== undefined ? [id] : chosen);
  }
  // After the insert: a job with a chosen id that moved to history meanwhile is seen here (the
  // insert waited for its mover on the primary key).
  if (chosen.length > 0) {
    const taken = await readFinished(tx, t, chosen);
    if (taken.length > 0) throw new DuplicateJobIdError(taken.map((t) => t.job_id));
  }

  // The jobs are built from the input rather than read back: returning every column of 20,000
  // rows cost more than the insert (measured by the benchmark). created_at is the transaction's
  // now(), the same for every row.
  return jobs.map((j) => jobFromCreated(j, createdAt, options.parentId ?? null, options.traceContext ?? null));
}

/** Rows of new jobs as one `SELECT ... FROM ROWS FROM (...)`, and the queues they make ready. */
export interface JobRows {
  /** The column list the select fills, in its order. */
  columns: string;
  select: ReturnType<Tx['unsafe']>;
  from: ReturnType<Tx['unsafe']>;
  readyQueues: Set<string>;
}

/**
 * Builds the rows of validated jobs, set-based: one statement whatever their number. The rows
 * travel as columns zipped by ROWS FROM: text as JSON arrays, numbers as array literals
 * (validated finite numbers need no escaping), the payloads as the JSON validation already made
 * them: cheaper than a JSON document of rows, or the driver's typed arrays (docs/performance.md).
 * The unique and schedule columns, and the concurrency key, are sent only when a job has them.
 */
export function jobRows(tx: Sql | Tx, jobs: ValidatedJob[], unfinished: Set<string>): JobRows {
  const dependedOn = new Set(jobs.flatMap((j) => j.dependencies));
  const extras = jobs.some((j) => j.uniqueKey !== null || j.scheduleId !== null);
  const keyed = jobs.some((j) => j.concurrencyKey !== null);
  const n = jobs.length;
  const c = {
    id: new Array<string>(n), jobType: new Array<string>(n), name: new Array<string>(n),
    description: new Array<string | null>(n), payload: new Array<string>(n), dependencies: new Array<string[]>(n),
    priority: new Array<number>(n), maxRetries: new Array<number>(n), queue: new Array<string>(n),
    runAt: new Array<Date | null>(n), timeout: new Array<number | string>(n), retryDelay: new Array<number | string>(n),
    pending: new Array<number>(n), hasDependents: new Array<boolean>(n),
    uniqueKey: new Array<string | null>(extras ? n : 0), uniqueWhile: new Array<string | null>(extras ? n : 0),
    uniqueSlot: new Array<string | null>(extras ? n : 0), scheduleId: new Array<string | null>(extras ? n : 0),
    scheduleTick: new Array<Date | null>(extras ? n : 0), concurrencyKey: new Array<string | null>(keyed ? n : 0),
  };
  const readyQueues = new Set<string>();
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const j = jobs[i]!;
    let pending = 0;
    for (const d of j.dependencies) if (unfinished.has(d)) pending += 1;
    c.id[i] = j.id; c.jobType[i] = j.jobType; c.name[i] = j.name; c.description[i] = j.description;
    c.payload[i] = j.payloadJson; c.dependencies[i] = j.dependencies; c.priority[i] = j.priority;
    c.maxRetries[i] = j.maxRetries; c.queue[i] = j.queue; c.runAt[i] = j.runAt;
    c.timeout[i] = j.timeoutSeconds ?? 'NULL'; c.retryDelay[i] = j.retryDelaySeconds ?? 'NULL';
    c.pending[i] = pending; c.hasDependents[i] = dependedOn.size > 0 && dependedOn.has(j.id);
    if (extras) {
      c.uniqueKey[i] = j.uniqueKey; c.uniqueWhile[i] = j.uniqueWhile; c.scheduleId[i] = j.scheduleId; c.scheduleTick[i] = j.scheduleTick;
      c.uniqueSlot[i] = j.uniqueWhile === 'pending' || j.uniqueWhile === 'active' ? j.uniqueKey : null;
    }
    if (keyed) c.concurrencyKey[i] = j.concurrencyKey;
    if (pending === 0 && (j.runAt?.getTime() ?? 0) <= now) readyQueues.add(j.queue);
  }
  const json = (values: unknown[]): string => JSON.stringify(values);
  const literal = (values: unknown[]): string => `{${values.join(',')}}`;
  const base = 'id, job_type, name, description, payload, dependencies, priority, max_retries, queue, run_at, timeout_seconds, ' +
    'retry_delay_seconds, pending_dependencies, has_dependents';
  const columns = base + (extras ? ', unique_key, unique_while, unique_slot, schedule_id, schedule_tick' : '') +
    (keyed ? ', concurrency_key' : '');
  const from = tx`
    ROWS FROM (
      jsonb_array_elements_text(${json(c.id)}::text::jsonb),
      jsonb_array_elements_text(${json(c.jobType)}::text::jsonb),
      jsonb_array_elements_text(${json(c.name)}::text::jsonb),
      jsonb_array_elements_text(${json(c.description)}::text::jsonb),
      jsonb_array_elements(${`[${c.payload.join(',')}]`}::text::jsonb),
      jsonb_array_elements(${json(c.dependencies)}::text::jsonb),
      unnest(${literal(c.priority)}::text::int[]),
      unnest(${literal(c.maxRetries)}::text::int[]),
      jsonb_array_elements_text(${json(c.queue)}::text::jsonb),
      jsonb_array_elements_text(${json(c.runAt)}::text::jsonb),
      unnest(${literal(c.timeout)}::text::float8[]),
      unnest(${literal(c.retryDelay)}::text::float8[]),
      unnest(${literal(c.pending)}::text::int[]),
      unnest(${literal(c.hasDependents)}::text::bool[])
      ${extras ? tx`,
      jsonb_array_elements_text(${json(c.uniqueKey)}::text::jsonb),
      jsonb_array_elements_text(${json(c.uniqueWhile)}::text::jsonb),
      jsonb_array_elements_text(${json(c.uniqueSlot)}::text::jsonb),
      jsonb_array_elements_text(${json(c.scheduleId)}::text::jsonb),
      jsonb_array_elements_text(${json(c.scheduleTick)}::text::jsonb)` : tx``}
      ${keyed ? tx`,
      jsonb_array_elements_text(${json(c.concurrencyKey)}::text::jsonb)` : tx``}
    ) AS x(${tx.unsafe(columns)})` as unknown as ReturnType<Tx['unsafe']>;
  const select = tx.unsafe(`SELECT ${columns.split(', ').map((col) =>
    col === 'run_at' ? 'coalesce(x.run_at::timestamptz, now())' : col === 'schedule_tick' ? 'x.schedule_tick::timestamptz' : `x.${col}`).join(', ')}`);
  return { columns, select, from, readyQueues };
}
