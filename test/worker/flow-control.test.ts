import { describe, expect, it } from 'vitest';
import { ValidationError, type NewJob } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db } = harness;

const job = (queue: string, n: number, extra: Partial<NewJob> = {}): NewJob =>
  ({ jobType: 'agent', name: `j${n}`, queue, payload: { agent_name: 'work', parameters: { n } }, ...extra });
/** Jobs with a concurrency key, set in SQL (the field itself is tested with creates). */
async function keyed(queue: string, key: string, count: number): Promise<string[]> {
  const created = await harness.jobs.createJobs(Array.from({ length: count }, (_, n) => job(queue, n)));
  const ids = created.map((j) => j.id);
  await db.sql`UPDATE taiat_jobs SET concurrency_key = ${key} WHERE id = ANY(${ids}::text[])`;
  return ids;
}

/** An agent that records how many of its runs overlap, per key (the payload's `key`), and sleeps. */
function recorder(ms: number) {
  let running = 0;
  let peak = 0;
  const starts: number[] = [];
  const ran: string[] = [];
  return {
    agent: async (p: Record<string, unknown>) => {
      running += 1;
      peak = Math.max(peak, running);
      starts.push(Date.now());
      ran.push(String(p.n));
      await new Promise((r) => setTimeout(r, ms));
      running -= 1;
      return null;
    },
    get peak() { return peak; },
    starts,
    ran,
  };
}

describe('flow control', () => {
  it('a paused queue is not claimed, other queues are; resumed, it runs; jobs can be created meanwhile', async () => {
    await harness.jobs.createJob(job('reports', 1));
    const paused = await harness.jobs.pauseQueue('reports');
    expect(paused).toMatchObject({ name: 'reports', paused: true });
    const rec = recorder(1);
    await harness.startWorker({ agents: { work: rec.agent }, queues: ['reports', 'other'] });
    const other = await harness.jobs.createJob(job('other', 2));
    await harness.finished(other.id);
    await harness.jobs.createJob(job('reports', 3));
    await new Promise((r) => setTimeout(r, 500));
    const [row] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = 'reports' AND status = 'pending'`;
    expect(row!.n).toBe(2);
    expect((await harness.jobs.listQueues()).find((q) => q.name === 'reports')).toMatchObject({ paused: true, ready: 2, heldBack: { paused: 2 } });
    await harness.jobs.resumeQueue('reports');
    await waitFor(async () => (await db.sql`SELECT 1 FROM taiat_jobs WHERE queue = 'reports'`).length === 0, 'the resumed queue to drain');
  });

  it('a queue limit holds across the worker\'s slots', async () => {
    await harness.jobs.setQueueLimits('capped', { concurrency: 2 });
    const rec = recorder(30);
    await harness.startWorker({ agents: { work: rec.agent }, queues: ['capped'], maxConcurrentJobs: 8 });
    const jobs = await harness.jobs.createJobs(Array.from({ length: 12 }, (_, n) => job('capped', n)));
    for (const j of jobs) await harness.finished(j.id);
    expect(rec.peak).toBe(2);
  });

  it('a busy key holds back no other key', async () => {
    await harness.jobs.setQueueLimits('tenants', { keyConcurrency: 1 });
    await keyed('tenants', 'busy', 2000);
    const rec = recorder(1000); // long enough that the other key starts while a busy job runs, even on a loaded machine
    await harness.startWorker({ agents: { work: rec.agent }, queues: ['tenants'], maxConcurrentJobs: 4 });
    await waitFor(() => rec.ran.length > 0, 'the busy key to start');
    const [other] = await keyed('tenants', 'quiet', 1);
    const started = Date.now();
    await waitFor(async () => (await db.sql`SELECT 1 FROM taiat_jobs WHERE id = ${other!} AND status = 'running'`).length > 0 || (await harness.jobs.getJob(other!))?.location === 'history', 'the other key to start');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(rec.peak).toBe(2); // one of each key
    // A job without a key is held by the queue's limits only (found within a second: see taiat_claim_limited).
    const plain = await harness.jobs.createJob(job('tenants', -1));
    await waitFor(async () => (await harness.jobs.getJob(plain.id))?.status !== 'pending', 'the job without a key to start', 3000);
  });

  it('a rate limit: at most N claims in any window of the period', async () => {
    await harness.jobs.setQueueLimits('api', { rateLimit: { limit: 5, periodSeconds: 1 } });
    const rec = recorder(1);
    await harness.startWorker({ agents: { work: rec.agent }, queues: ['api'], maxConcurrentJobs: 10 });
    const jobs = await harness.jobs.createJobs(Array.from({ length: 15 }, (_, n) => job('api', n)));
    for (const j of jobs) await harness.finished(j.id);
    const starts = rec.starts.sort((a, b) => a - b);
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!).toBeGreaterThanOrEqual(990);
    expect(starts.at(-1)! - starts[0]!).toBeLessThan(3500);
  });

  it('a worker sets the limits its module declares when it starts: what the declaration leaves out is not limited', async () => {
    await harness.jobs.setQueueLimits('reports', { rateLimit: { limit: 3, periodSeconds: 60 } });
    await harness.jobs.setKeyLimits('reports', 'big', { rateLimit: { limit: 1, periodSeconds: 60 } });
    await harness.jobs.pauseQueue('reports');
    await harness.startWorker({ agents: { work: () => null }, queues: ['reports'], queueLimits: { reports: { concurrency: 3, keys: { big: { concurrency: 2 } } } } });
    expect(await harness.jobs.getQueue('reports')).toMatchObject({
      concurrency: 3, rateLimit: null, keyConcurrency: null, paused: true, source: 'module', keys: [{ key: 'big', concurrency: 2, rateLimit: null }],
    });
    await expect(harness.startWorker({ agents: { work: () => null }, queueLimits: { reports: { concurrency: 0 } } }))
      .rejects.toMatchObject({ field: 'queueLimits.reports.concurrency' });
  });

  it('explain says which pause or limit holds a ready job back, with its numbers', async () => {
    const why = async (id: string) => (await harness.jobs.explain(id))!;
    const [a] = await keyed('held', 'acme', 2);
    expect((await why(a!)).heldBy).toBeNull();
    await harness.jobs.pauseQueue('held');
    expect(await why(a!)).toMatchObject({ state: 'ready', heldBy: { reason: 'paused' } });
    expect((await why(a!)).summary).toMatch(/^ready, but held back: queue 'held' is paused/);
    await harness.jobs.resumeQueue('held');
    // One of the queue's jobs running (as a worker would leave it), against each kind of limit in turn.
    const running = await keyed('held', 'acme', 1);
    await db.sql`UPDATE taiat_jobs SET status = 'running', lease_owner = 'w', lease_expires_at = now() + interval '1 minute' WHERE id = ${running[0]!}`;
    await harness.jobs.setQueueLimits('held', { concurrency: 1 });
    expect((await why(a!)).heldBy).toEqual({ reason: 'queue-limit', detail: "queue 'held' is at its concurrency limit: 1 of 1 running" });
    await harness.jobs.setQueueLimits('held', { concurrency: null, keyConcurrency: 1 });
    expect((await why(a!)).heldBy).toMatchObject({ reason: 'key-limit', detail: "concurrency key 'acme' is at its limit: 1 of 1 running" });
    await harness.jobs.setKeyLimits('held', 'acme', { concurrency: 2 });
    expect((await why(a!)).heldBy).toBeNull();
    await harness.jobs.setQueueLimits('held', { rateLimit: { limit: 1, periodSeconds: 60 } });
    await db.sql`INSERT INTO taiat_rate_claims (queue, concurrency_key, claimed_at) VALUES ('held', 'acme', now())`;
    expect((await why(a!)).heldBy).toMatchObject({ reason: 'rate-limit' });
  });

  it('refuses bad limits, naming the field, and changes nothing', async () => {
    await expect(harness.jobs.setQueueLimits('q', { concurrency: 0 })).rejects.toMatchObject({ field: 'limits.concurrency' });
    await expect(harness.jobs.setQueueLimits('q', { concurrency: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(harness.jobs.setQueueLimits('q', { rateLimit: { limit: 3, periodSeconds: 0 } })).rejects.toMatchObject({ field: 'limits.rateLimit.periodSeconds' });
    await expect(harness.jobs.setKeyLimits('q', 'k'.repeat(201), { concurrency: 1 })).rejects.toMatchObject({ field: 'concurrencyKey' });
    await expect(harness.jobs.resumeQueue('never-seen')).rejects.toMatchObject({ field: 'queue' });
    expect(await db.sql`SELECT * FROM taiat_queues`).toHaveLength(0);
  });
});
