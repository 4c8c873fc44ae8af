import { describe, expect, it } from 'vitest';
import type { Job, JsonValue } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;

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
