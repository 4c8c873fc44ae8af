import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;

describe('delegation', () => {
  it('a job creates children, waits for them without a slot, and resumes with their results', async () => {
    const steps: number[] = [];
    await startWorker({
      maxConcurrentJobs: 1, // the parent must not hold the only slot while its children run
      agents: {
        square: (p) => (p.n as number) ** 2,
        sum: async (_p, ctx) => {
          steps.push(ctx.job.step);
          if (ctx.job.step === 0) {
            const children = await ctx.createJobs([1, 2, 3].map((n) => ({ jobType: 'agent', name: `sq${n}`, payload: { agent_name: 'square', parameters: { n } } })));
            return ctx.waitFor(children.map((c) => c.id));
          }
          return Object.entries(ctx.dependencyResults).filter(([k]) => !k.startsWith('sq')).reduce((a, [, v]) => a + (v as number), 0);
        },
      },
    });
    await harness.jobs.createJob(agentJob('parent', 'sum'));
    const parent = await finished('parent');
    expect(parent).toMatchObject({ status: 'completed', result: 14, step: 1, attempts: 1 });
    expect(steps).toEqual([0, 1]);
    const children = await db.sql`SELECT name, parent_id, status FROM taiat_job_history WHERE parent_id = 'parent' ORDER BY name`;
    expect(children).toEqual(['sq1', 'sq2', 'sq3'].map((name) => ({ name, parent_id: 'parent', status: 'completed' })));
    expect(parent.dependencies).toHaveLength(3);
  });

  it('an executor may take its context apart: every part works destructured (the getters too)', async () => {
    const seen: unknown[] = [];
    await startWorker({
      maxConcurrentJobs: 1,
      agents: {
        leaf: () => 'leaf done',
        apart: async (_p, { job, attempt, signal, logger, dependencyResults, createJobs, waitFor, progress }) => {
          if (job.step === 0) {
            progress(50, { phase: 'children' });
            logger.info('taking the context apart');
            seen.push(attempt, signal.aborted, typeof logger.child);
            const [child] = await createJobs([{ jobType: 'agent', name: 'leaf', payload: { agent_name: 'leaf' } }]);
            return waitFor([child!.id]);
          }
          return dependencyResults.leaf;
        },
      },
    });
    await harness.jobs.createJob(agentJob('apart', 'apart'));
    expect(await finished('apart')).toMatchObject({ status: 'completed', result: 'leaf done', step: 1 });
    expect(seen).toEqual([1, false, 'function']);
  });

  it('a parent waiting for a child that fails for good fails, naming the child; its dependents are cancelled', async () => {
    await startWorker({
      agents: {
        bad: () => { throw new Error('child broke'); },
        parent: async (_p, ctx) => {
          const [child] = await ctx.createJobs([{ id: 'kid', jobType: 'agent', name: 'kid', payload: { agent_name: 'bad' }, maxRetries: 0 }]);
          return ctx.waitFor([child!.id]);
        },
        rec: () => 'never',
      },
    });
    await harness.jobs.createJobs([agentJob('p', 'parent'), agentJob('after-p', 'rec', ['p'])]);
    expect(await finished('p')).toMatchObject({ status: 'failed', errorMessage: 'child job kid (kid) failed', causeJobId: 'kid' });
    expect(await finished('after-p')).toMatchObject({ status: 'cancelled', errorMessage: 'dependency p (p) failed', causeJobId: 'p' });
  });

  it('waiting for a job that already failed, or does not exist, fails the job at once', async () => {
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status) VALUES ('dead', 'dead', 'agent', 'dead', 'failed')`;
    await startWorker({ agents: { w: (p, ctx) => ctx.waitFor([p.on as string]) } });
    await harness.jobs.createJobs([
      { id: 'w1', jobType: 'agent', name: 'w1', payload: { agent_name: 'w', parameters: { on: 'dead' } } },
      { id: 'w2', jobType: 'agent', name: 'w2', payload: { agent_name: 'w', parameters: { on: 'ghost' } } },
    ]);
    expect(await finished('w1')).toMatchObject({ status: 'failed', errorMessage: 'child job dead (dead) failed' });
    expect(await finished('w2')).toMatchObject({ status: 'failed', errorMessage: 'waitFor: job ghost does not exist' });
  });

  it('ctx.createJobs of more than 2,000 independent children streams them (one COPY), each recording its parent', async () => {
    // Past STREAM_CHUNK (2,000), jobs without dependencies or ids take copyJobs, as JobManager.createJobs does.
    let children: Job[] = [];
    await startWorker({
      agents: {
        spawn: async (_p, ctx) => {
          children = await ctx.createJobs(Array.from({ length: 2_500 }, (_, i) => ({ jobType: 'noop', name: `child-${i}`, queue: 'unserved' })));
          return children.length;
        },
      },
    });
    await harness.jobs.createJob(agentJob('parent', 'spawn'));
    expect(await finished('parent')).toMatchObject({ status: 'completed', result: 2_500 });
    expect(children).toHaveLength(2_500);
    expect(new Set(children.map((c) => c.parentId))).toEqual(new Set(['parent']));
    // No worker serves their queue: every child is still live, and is one of those returned.
    const rows = await db.sql`
      SELECT parent_id, count(*)::int AS n, count(*) FILTER (WHERE id = ANY(${children.map((c) => c.id)}::text[]))::int AS returned
        FROM taiat_jobs GROUP BY parent_id`;
    expect(rows).toEqual([{ parent_id: 'parent', n: 2_500, returned: 2_500 }]);
  });
});
