import { DependencyError, DuplicateJobIdError } from '../errors.js';
import type { ValidatedJob } from './validation.js';

/**
 * Checks the dependency graph of one `createJobs` call before anything is written: ids unique
 * within the call, no job depending on itself, no cycle among the call's jobs (the error lists
 * the cycle's path). Dependencies outside the call are checked against the database later.
 */
export function checkGraph(jobs: ValidatedJob[]): void {
  // Generated ids are unique and unknown to the caller, so nothing can repeat, or depend on, them.
  if (!jobs.some((j) => j.idChosen)) return;
  const byId = new Map<string, ValidatedJob>();
  const duplicates = new Set<string>();
  for (const job of jobs) {
    if (byId.has(job.id)) duplicates.add(job.id);
    byId.set(job.id, job);
  }
  if (duplicates.size > 0) throw new DuplicateJobIdError([...duplicates]);

  for (const job of jobs) {
    if (job.dependencies.includes(job.id)) {
      throw new DependencyError('TAIAT_DEPENDENCY_SELF', `job ${job.id} (${job.name}) depends on itself`, [job.id]);
    }
  }

  // Iterative depth-first search (graphs of 100,000 jobs would overflow a recursive one).
  const state = new Map<string, 'visiting' | 'done'>();
  for (const start of jobs) {
    if (state.has(start.id)) continue;
    const stack: { id: string; next: number }[] = [{ id: start.id, next: 0 }];
    state.set(start.id, 'visiting');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const deps = byId.get(frame.id)!.dependencies;
      if (frame.next >= deps.length) {
        state.set(frame.id, 'done');
        stack.pop();
        continue;
      }
      const dep = deps[frame.next++]!;
      if (!byId.has(dep)) continue;
      const seen = state.get(dep);
      if (seen === 'visiting') {
        const from = stack.findIndex((f) => f.id === dep);
        const path = [...stack.slice(from).map((f) => f.id), dep];
        const names = path.map((id) => `${id} (${byId.get(id)!.name})`);
        throw new DependencyError('TAIAT_DEPENDENCY_CYCLE', `dependency cycle: ${names.join(' -> ')}`, path);
      }
      if (seen === undefined) {
        state.set(dep, 'visiting');
        stack.push({ id: dep, next: 0 });
      }
    }
  }
}
