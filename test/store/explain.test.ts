import { describe, expect, it } from 'vitest';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';

// The harness gives this file its database and a JobManager; no worker is started.
const harness = useWorkerHarness();
const { db } = harness;

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
    expect(running.lease).toMatchObject({ workerId: 'w-9', cancelRequested: false, expired: false });
    expect(running.summary).toMatch(/^running on worker w-9 \(attempt 1\), lease until /);
    await db.sql`UPDATE taiat_jobs SET lease_expires_at = now() - interval '5 seconds' WHERE id = 'root-a'`;
    const lost = (await harness.jobs.explain('root-a'))!;
    expect(lost.lease).toMatchObject({ workerId: 'w-9', expired: true });
    expect(lost.summary).toMatch(/^running on worker w-9 \(attempt 1\), but its lease expired at .*: the worker is likely lost/);

    await harness.jobs.cancelJob('root-b');
    const cancelled = (await harness.jobs.explain('leaf'))!;
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.cause).toEqual({ id: 'root-b', name: 'root-b', state: 'cancelled' });
    expect(cancelled.summary).toMatch(/^cancelled at .*: dependency mid \(mid\) was cancelled: dependency root-b \(root-b\) was cancelled$/);
    expect(await harness.jobs.explain('nope')).toBeNull();
  });

  it('names the concurrency key of a ready job', async () => {
    await harness.jobs.createJob(agentJob('keyed', 'x', [], { concurrencyKey: 'tenant-9' }));
    const keyed = (await harness.jobs.explain('keyed'))!;
    expect(keyed.summary).toBe("ready: waiting for a free worker on queue 'default' (priority 2, concurrency key 'tenant-9')");
    expect(keyed.job.concurrencyKey).toBe('tenant-9');
  });
});
