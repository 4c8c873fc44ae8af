import { describe, expect, it } from 'vitest';
import type { Job, JsonValue } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;

const agentJob = (id: string, agent: string, dependencies: string[] = [], extra: Record<string, unknown> = {}) => ({
  id, jobType: 'agent', name: id, payload: { agent_name: agent }, dependencies, ...extra,
});

/** An agent that records when each job ran, and returns its name. */
function recorder() {
  const runs: { id: string; start: number; end: number }[] = [];
  const agent = async (_p: unknown, ctx: { job: Job }) => {
    const start = performance.now();
    await new Promise((r) => setTimeout(r, 5));
    runs.push({ id: ctx.job.id, start, end: performance.now() });
    return ctx.job.name;
  };
  const of = (id: string) => runs.find((r) => r.id === id)!;
  return { runs, agent, of };
}

describe('dependencies', () => {
  it('runs a chain in order, each step after the previous one ended', async () => {
    const rec = recorder();
    await startWorker({ maxConcurrentJobs: 8, agents: { rec: rec.agent } });
    await harness.jobs.createJobs([agentJob('s4', 'rec', ['s3']), agentJob('s3', 'rec', ['s2']), agentJob('s2', 'rec', ['s1']), agentJob('s1', 'rec')]);
    await finished('s4');
    expect(rec.runs.map((r) => r.id)).toEqual(['s1', 's2', 's3', 's4']);
    for (const [a, b] of [['s1', 's2'], ['s2', 's3'], ['s3', 's4']] as const) expect(rec.of(b).start).toBeGreaterThanOrEqual(rec.of(a).end);
  });

  it('fans out, fans in, and runs a diamond join once with both results', async () => {
    const rec = recorder();
    let joined: Record<string, JsonValue | null> = {};
    await startWorker({ maxConcurrentJobs: 8, agents: { rec: rec.agent, join: (_p, ctx) => { joined = { ...ctx.dependencyResults }; return 'joined'; } } });
    await harness.jobs.createJobs([
      agentJob('top', 'rec'),
      ...[1, 2, 3, 4, 5].map((i) => agentJob(`fan${i}`, 'rec', ['top'])),
      agentJob('left', 'rec', ['top']),
      agentJob('right', 'rec', ['top']),
      agentJob('bottom', 'join', ['left', 'right']),
    ]);
    await finished('bottom');
    await Promise.all([1, 2, 3, 4, 5].map((i) => finished(`fan${i}`)));
    for (const id of ['fan1', 'fan2', 'fan3', 'fan4', 'fan5', 'left', 'right']) expect(rec.of(id).start).toBeGreaterThanOrEqual(rec.of('top').end);
    expect(joined).toEqual({ left: 'left', right: 'right' });
    expect(rec.runs.filter((r) => r.id === 'top')).toHaveLength(1);
  });

  it('treats a dependency that already completed as satisfied', async () => {
    await startWorker({ agents: { rec: (_p, ctx) => ctx.dependencyResults.first ?? 'first' } });
    await harness.jobs.createJob(agentJob('first', 'rec'));
    await finished('first');
    await harness.jobs.createJob(agentJob('second', 'rec', ['first']));
    expect((await finished('second')).result).toBe('first');
  });

  it('cancels every dependent of a job that failed for good, three levels deep, naming the cause', async () => {
    await startWorker({ maxConcurrentJobs: 4, agents: { boom: () => { throw new Error('extract broke'); }, rec: () => 'ok' } });
    await harness.jobs.createJobs([
      agentJob('extract', 'boom', [], { maxRetries: 0 }),
      agentJob('transform', 'rec', ['extract']),
      agentJob('load', 'rec', ['transform']),
      agentJob('report', 'rec', ['load']),
      agentJob('unrelated', 'rec'),
    ]);
    expect(await finished('extract')).toMatchObject({ status: 'failed', errorMessage: 'extract broke' });
    const rows = await db.sql`SELECT job_id, status, error_message, cause_job_id FROM taiat_job_history WHERE job_id IN ('transform', 'load', 'report') ORDER BY job_id`;
    expect(rows).toEqual([
      { job_id: 'load', status: 'cancelled', error_message: 'dependency transform (transform) was cancelled: dependency extract (extract) failed', cause_job_id: 'extract' },
      { job_id: 'report', status: 'cancelled', error_message: 'dependency load (load) was cancelled: dependency extract (extract) failed', cause_job_id: 'extract' },
      { job_id: 'transform', status: 'cancelled', error_message: 'dependency extract (extract) failed', cause_job_id: 'extract' },
    ]);
    expect((await finished('unrelated')).status).toBe('completed');
    const [left] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`;
    expect(left!.n).toBe(0);
  });

  it('retryJob with dependents brings the cascade back, blocked on the retried job, and it all runs', async () => {
    let broken = true;
    await startWorker({ maxConcurrentJobs: 4, agents: { flaky: () => { if (broken) throw new Error('down'); return 'up'; }, rec: (_p, ctx) => ctx.job.name } });
    await harness.jobs.createJobs([agentJob('a', 'flaky', [], { maxRetries: 0 }), agentJob('b', 'rec', ['a']), agentJob('c', 'rec', ['b'])]);
    await finished('c');
    broken = false;
    await harness.jobs.retryJob('a', { dependents: true });
    expect(await finished('c')).toMatchObject({ status: 'completed', result: 'c' });
    expect(await harness.jobs.getJob('a')).toMatchObject({ status: 'completed', result: 'up' });
  });

  it('several workers completing the dependencies of a join at the same moment run the join exactly once', async () => {
    const joinRuns = new Map<string, number>();
    const agents = {
      leaf: () => 'leaf',
      join: (_p: unknown, ctx: { job: Job }) => void joinRuns.set(ctx.job.id, (joinRuns.get(ctx.job.id) ?? 0) + 1),
    };
    const graph = [];
    for (let g = 0; g < 40; g++) {
      const leaves = Array.from({ length: 10 }, (_, i) => agentJob(`g${g}-l${i}`, 'leaf'));
      graph.push(...leaves, agentJob(`g${g}-join`, 'join', leaves.map((l) => l.id)));
    }
    await harness.jobs.createJobs(graph);
    await Promise.all([1, 2, 3].map(() => startWorker({ maxConcurrentJobs: 16, agents })));
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_job_history WHERE status = 'completed'`)[0]!.n === 440, 'all 440 jobs', 30_000);
    expect(joinRuns.size).toBe(40);
    expect([...joinRuns.values()].every((n) => n === 1)).toBe(true);
  });
});

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
});

describe('explain', () => {
  it('says why a job is blocked, down to the root causes, and where finished jobs ended', async () => {
    await harness.jobs.createJobs([
      agentJob('root-a', 'x'),
      agentJob('root-b', 'x', [], { runAt: new Date(Date.now() + 3600_000) }),
      agentJob('mid', 'x', ['root-a', 'root-b']),
      agentJob('leaf', 'x', ['mid']),
    ]);
    const leaf = (await harness.jobs.explain('leaf'))!;
    expect(leaf.state).toBe('blocked');
    expect(leaf.waitingOn).toEqual([{ id: 'mid', name: 'mid', state: 'blocked' }]);
    expect(leaf.rootCauses).toEqual([{ id: 'root-a', name: 'root-a', state: 'ready' }, { id: 'root-b', name: 'root-b', state: 'scheduled' }]);
    expect(leaf.summary).toMatch(/^blocked on 1 unfinished dependency: mid \(mid, blocked\); first to finish: root-a/);
    const b = (await harness.jobs.explain('root-b'))!;
    expect(b.state).toBe('scheduled');
    expect(b.runAt).toBeInstanceOf(Date);
    expect((await harness.jobs.explain('root-a'))!.summary).toBe("ready: waiting for a free worker on queue 'default' (priority 2)");

    await db.sql`UPDATE taiat_jobs SET status = 'running', lease_owner = 'w-9', lease_expires_at = now() + interval '30 seconds', attempts = 1 WHERE id = 'root-a'`;
    const running = (await harness.jobs.explain('root-a'))!;
    expect(running.state).toBe('running');
    expect(running.lease).toMatchObject({ workerId: 'w-9', cancelRequested: false });

    await harness.jobs.cancelJob('root-b');
    const cancelled = (await harness.jobs.explain('leaf'))!;
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.cause).toEqual({ id: 'root-b', name: 'root-b', state: 'cancelled' });
    expect(cancelled.summary).toMatch(/^cancelled at .*: dependency mid \(mid\) was cancelled: dependency root-b \(root-b\) was cancelled$/);
    expect(await harness.jobs.explain('nope')).toBeNull();
  });
});
