/** The driver's load: plans created one after another, and their cancel requests sent later. */
import { DependencyError, DuplicateJobIdError, InvalidStateError } from '../dist/index.js';
import { sleep, TimeoutError } from '../bench/lib/time.js';
import { wallMs } from './clock.js';
import { DB_RETRY_MS, workRng } from './config.js';
import { db, managerCall } from './database.js';
import { describe, isTransient, isUnexpectedDbError, untilReachable } from './db-errors.js';
import { buildPlan, type Plan } from './scenarios.js';
import { cancels, created, recent, run, track, violation, type Cancel } from './state.js';

/** Creates a plan's jobs in one call; an ambiguous failure (connection lost at commit) is resolved by looking. */
async function createPlan(plan: Plan): Promise<boolean> {
  const ids = plan.jobs.map((j) => j.id!);
  const register = () => {
    const at = wallMs();
    for (const j of plan.jobs) {
      created.set(j.id!, { id: j.id!, scenario: plan.scenario, role: plan.roles.get(j.id!)!, params: j.payload?.parameters ?? null, createdAt: at });
      recent.push(j.id!);
    }
    if (recent.length > 2_000) recent.splice(0, recent.length - 1_000);
    return true;
  };
  const deadline = Date.now() + DB_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await managerCall('createJobs', (m) => m.createJobs(plan.jobs));
      return register();
    } catch (error) {
      if (error instanceof DependencyError && error.code === 'TAIAT_DEPENDENCY_FAILED') {
        run.rejectedGraphs += 1;
        run.rejectedJobs += plan.jobs.length;
        return false;
      }
      if (error instanceof DependencyError && error.code === 'TAIAT_DEPENDENCY_UNKNOWN') {
        violation('lost-job', error.jobIds.join(','), `createJobs says a job the soak created does not exist: ${error.message}`);
        return false;
      }
      const ambiguous = isTransient(error) || error instanceof TimeoutError || isUnexpectedDbError(error) || (error instanceof DuplicateJobIdError && attempt > 0);
      if (!ambiguous) throw error;
      const present = await untilReachable(
        async () => (await db.admin!<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_all_jobs WHERE id = ANY(${ids}::text[])`)[0]!.n,
        'checking whether a graph was created',
      );
      if (present === ids.length) return register();
      if (present > 0) {
        violation('partial-graph', ids[0]!, `${present} of the ${ids.length} jobs of one createJobs call exist after a connection error`);
        return register();
      }
      if (Date.now() > deadline) throw new Error(`could not create a graph for ${DB_RETRY_MS / 1000} s: ${describe(error)}`);
      await sleep(200);
    }
  }
}

function scheduleCancel(id: string, role: string, afterMs: number): void {
  track((async () => {
    await sleep(afterMs);
    const cancel: Cancel = { jobId: id, role, sentAt: wallMs(), ackedAt: null, result: '' };
    cancels.push(cancel);
    const deadline = Date.now() + DB_RETRY_MS;
    for (;;) {
      try {
        const job = await managerCall('cancelJob', (m) => m.cancelJob(id));
        cancel.ackedAt = wallMs();
        cancel.result = `returned ${job.status}`;
        return;
      } catch (error) {
        if (error instanceof InvalidStateError) {
          cancel.ackedAt = wallMs();
          cancel.result = `already ${error.status}`;
          return;
        }
        const retriable = isTransient(error) || error instanceof TimeoutError || isUnexpectedDbError(error);
        if (!retriable || Date.now() > deadline) {
          cancel.result = `error: ${describe(error)}`;
          if (!retriable) violation('cancel-error', id, describe(error));
          return;
        }
        await sleep(250);
      }
    }
  })());
}

export async function creationLoop(endAt: number): Promise<void> {
  while (!run.aborting && wallMs() < endAt) {
    const plan = buildPlan(endAt);
    if (await createPlan(plan)) for (const c of plan.cancels) scheduleCancel(c.id, c.role, c.afterMs);
    await sleep(workRng.int(50, 300));
  }
}
