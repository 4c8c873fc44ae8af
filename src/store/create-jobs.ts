import type { Sql } from '../db/connection.js';
import { checkGraph } from '../jobs/graph.js';
import type { Job } from '../jobs/model.js';
import {
  checkJobList, isIndependentInput, validateJobRange, validateNewJob, type ValidatedJob, type ValidationLimits,
} from '../jobs/validation.js';
import { copyJobs, STREAM_CHUNK } from './copy-jobs.js';
import { commitsEarly, durably } from './durability.js';
import { insertJobs, type CreateOptions } from './insert-jobs.js';
import { insertSlottedAlone, insertUniqueJobs, slottedOnly } from './insert-unique-jobs.js';
import type { SchemaNames } from './schema-names.js';

export type { CreateOptions } from './insert-jobs.js';

/**
 * Creates jobs from a caller's input (`createJobs`, `ctx.createJobs`): the list checked against
 * the limits, each job validated (errors name `jobs[i].field`), then stored all or nothing. A
 * large call of independent jobs streams through one `COPY`, validating each chunk while Postgres
 * stores the previous one; a graph is validated whole first (its check needs every job).
 */
export async function createJobsFromInput(sql: Sql, t: SchemaNames, input: unknown, limits: ValidationLimits, options: CreateOptions = {}): Promise<Job[]> {
  checkJobList(input, limits);
  if (input.length > STREAM_CHUNK && input.every(isIndependentInput)) {
    // Every job is an object here; the concurrency key's column is sent only when some job has one.
    const concurrencyKeys = input.some((j) => (j as { concurrencyKey?: unknown }).concurrencyKey !== undefined);
    return copyJobs(sql, t, input.length, (from, to) => validateJobRange(input, from, to, limits), { ...options, concurrencyKeys });
  }
  return createJobs(sql, t, validateJobRange(input, 0, input.length, limits), options);
}

/** Creates one job from a caller's input (`createJob`); errors name the field. */
export async function createJobFromInput(sql: Sql, t: SchemaNames, input: unknown, limits: ValidationLimits, options: CreateOptions = {}): Promise<Job> {
  const [created] = await createJobs(sql, t, [validateNewJob(input, limits)], options);
  return created!;
}

/**
 * Creates a validated graph of jobs, all or nothing, durable when it returns and visible to
 * workers before that (see durability.ts). Independent jobs (no dependencies, generated ids) take
 * one statement, committed on its own. Others need reads first and run in a transaction.
 */
export async function createJobs(sql: Sql, t: SchemaNames, jobs: ValidatedJob[], options: CreateOptions = {}): Promise<Job[]> {
  if (jobs.length === 0) return [];
  checkGraph(jobs);
  const mode = { ...options, early: await commitsEarly(sql) };
  if (jobs.some((j) => j.uniqueKey !== null)) {
    if (slottedOnly(jobs)) return durably(sql, t, mode.early, () => insertSlottedAlone(sql, t, jobs, mode));
    return durably(sql, t, mode.early, () => sql.begin((tx) => insertUniqueJobs(tx, t, jobs, mode)));
  }
  const independent = jobs.every((j) => !j.idChosen && j.dependencies.length === 0);
  return durably(sql, t, mode.early, () =>
    independent ? insertJobs(sql, t, jobs, mode) : sql.begin((tx) => insertJobs(tx, t, jobs, mode)));
}
