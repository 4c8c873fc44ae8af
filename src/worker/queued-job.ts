import type { Sql } from '../db/connection.js';
import type { Job, JsonValue } from '../jobs/model.js';
import { readDependencyResults, resultsByIdAndName, type DependencyResults, type SchemaNames } from '../store/index.js';

/** A claimed (leased) job waiting in the local queue for a free slot. */
export interface QueuedJob {
  job: Job;
  dependencyResults: Record<string, JsonValue | null>;
  /** The traceparents of its dependencies' last attempts (tracing: the attempt's span links to them). */
  dependencyRuns: readonly string[];
  /** When it became ready: its creation or `runAt`, or its last dependency's completion if later (its wait runs from here). */
  readyAt: Date;
}

const NO_RUNS: readonly string[] = [];

/** A claimed job with what its dependencies left it (`results`: the completed dependencies of the claim's jobs). */
export function queuedJob(job: Job, results: DependencyResults): QueuedJob {
  let readyAt = job.runAt > job.createdAt ? job.runAt : job.createdAt;
  if (job.dependencies.length === 0) return { job, dependencyResults: {}, dependencyRuns: NO_RUNS, readyAt };
  for (const id of job.dependencies) {
    const done = results.get(id)?.completedAt;
    if (done && done > readyAt) readyAt = done;
  }
  const runs = job.dependencies.flatMap((id) => results.get(id)?.traceContext ?? []);
  return { job, dependencyResults: resultsByIdAndName(job, results), dependencyRuns: runs, readyAt };
}

/**
 * The claimed jobs, queued with their dependency results (one query). If the read fails, the jobs
 * are released: no one else may take them until their lease expires, and the rescue would then
 * count an attempt that never ran.
 */
export async function queuedJobs(sql: Sql, t: SchemaNames, jobs: Job[], release: (job: Job) => void): Promise<QueuedJob[]> {
  let results: DependencyResults;
  try {
    results = await readDependencyResults(sql, t, jobs.filter((j) => j.dependencies.length > 0));
  } catch (error) {
    for (const job of jobs) release(job);
    throw error;
  }
  return jobs.map((job) => queuedJob(job, results));
}
