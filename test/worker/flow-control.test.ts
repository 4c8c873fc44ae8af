import postgres from 'postgres';
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

  it('a finished job hands its place to the next in the transaction that writes its outcome', async () => {
    await harness.jobs.setQueueLimits('capped', { concurrency: 1 });
    const created = await harness.jobs.createJobs(Array.from({ length: 6 }, (_, n) => job('capped', n)));
    const rec = recorder(20);
    await harness.startWorker({ agents: { work: rec.agent }, queues: ['capped'], maxConcurrentJobs: 4 });
    for (const j of created) await harness.finished(j.id);
    expect(rec.peak).toBe(1);
    // now() is the transaction's start: a next job claimed in its predecessor's outcome write
    // starts at the very instant that job completed (a claim of its own would start later).
    const rows = await db.sql<{ started_at: Date; completed_at: Date }[]>`
      SELECT started_at, completed_at FROM taiat_job_history WHERE queue = 'capped' ORDER BY started_at`;
    const handedOver = rows.slice(1).filter((r, i) => r.started_at.getTime() === rows[i]!.completed_at.getTime());
    expect(handedOver).toHaveLength(5);
  });

  it('a key\'s freed place passes to that key\'s next job as soon as the outcome is written, and is not announced', async () => {
    await harness.jobs.setQueueLimits('tenants', { keyConcurrency: 1 });
    const a = await keyed('tenants', 'a', 5);
    const b = await keyed('tenants', 'b', 5);
    const announced: string[] = [];
    const listener = postgres(db.url, { max: 1, onnotice: () => {} });
    await listener.listen('taiat_jobs_ready', (queue) => announced.push(queue));
    try {
      const rec = recorder(20);
      // A poll of 5 s: a key's next job left to the claim loop would start at its next look, 5 s
      // after its predecessor's end (measured so with the hand-over taken out); the hand-over claims it at once.
      await harness.startWorker({ agents: { work: rec.agent }, queues: ['tenants'], maxConcurrentJobs: 4, pollInterval: 5 });
      for (const id of [...a, ...b]) await harness.finished(id);
      expect(rec.peak).toBe(2);
      const rows = await db.sql<{ k: string; started_at: Date; completed_at: Date }[]>`
        SELECT concurrency_key AS k, started_at, completed_at FROM taiat_job_history WHERE queue = 'tenants' ORDER BY k, started_at`;
      for (const key of ['a', 'b']) {
        const ofKey = rows.filter((r) => r.k === key);
        const gaps = ofKey.slice(1).map((r, i) => r.started_at.getTime() - ofKey[i]!.completed_at.getTime());
        expect(gaps, `key ${key}`).toHaveLength(4);
        expect(Math.max(...gaps), `key ${key}: ${gaps.join(', ')} ms`).toBeLessThan(500);
      }
      // Until the last job of a key: no place was left over to announce (the last ones free places no job takes).
      expect(announced.length).toBeLessThanOrEqual(2);
    } finally {
      await listener.end();
    }
  });

  it('idle() (--once) waits for the jobs a hand-over claims: no ready job of a limited queue is left', async () => {
    // A queue limit hands over in the outcome's transaction; a limit on keys alone, just after it.
    await harness.jobs.setQueueLimits('capped', { concurrency: 2 });
    await harness.jobs.createJobs(Array.from({ length: 30 }, (_, n) => job('capped', n)));
    await harness.jobs.setQueueLimits('tenants', { keyConcurrency: 1 });
    for (const key of ['a', 'b', 'c']) await keyed('tenants', key, 10);
    for (const queue of ['capped', 'tenants']) {
      const rec = recorder(5);
      const worker = await harness.startWorker({ agents: { work: rec.agent }, queues: [queue], maxConcurrentJobs: 4, localQueueSize: 8 });
      await worker.idle();
      expect((await db.sql`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = ${queue}`)[0]!.n, queue).toBe(0);
      expect(rec.ran, queue).toHaveLength(30);
      await worker.stop();
    }
  });

  it('a busy key holds back no other key', async () => {
    await harness.jobs.setQueueLimits('tenants', { keyConcurrency: 1 });
    await keyed('tenants', 'busy', 2000);
    // The busy key's job runs until the end of the test: its key stays at its limit, 1,999 behind it.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    await harness.startWorker({
      agents: { work: async (_p, ctx) => { started.push(ctx.job.concurrencyKey ?? '-'); if (ctx.job.concurrencyKey === 'busy') await held; return null; } },
      queues: ['tenants'], maxConcurrentJobs: 4, shutdownTimeout: 1,
    });
    try {
      await waitFor(() => started.length > 0, 'the busy key to start');
      await keyed('tenants', 'quiet', 1);
      await waitFor(() => started.includes('quiet'), 'the other key to start while the busy one is at its limit', 5000);
      // A job without a key is held by the queue's limits only (found within a second: see taiat_claim_limited).
      await harness.jobs.createJob(job('tenants', -1));
      await waitFor(() => started.includes('-'), 'the job without a key to start', 5000);
      expect(started.filter((k) => k === 'busy')).toHaveLength(1);
    } finally {
      release();
    }
  });

  it('a rate limit: at most N claims in any window of the period', async () => {
    await harness.jobs.setQueueLimits('api', { rateLimit: { limit: 5, periodSeconds: 1 } });
    // The claims as the limit counted them (the claim deletes its old records): copied as they are made.
    await db.sql`CREATE TABLE IF NOT EXISTS test_claims (claimed_at timestamptz)`;
    await db.sql`CREATE OR REPLACE FUNCTION test_copy_claim() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO test_claims VALUES (NEW.claimed_at); RETURN NEW; END $$`;
    await db.sql`CREATE OR REPLACE TRIGGER test_copy_claim AFTER INSERT ON taiat_rate_claims FOR EACH ROW EXECUTE FUNCTION test_copy_claim()`;
    try {
      const rec = recorder(1);
      await harness.startWorker({ agents: { work: rec.agent }, queues: ['api'], maxConcurrentJobs: 10 });
      const jobs = await harness.jobs.createJobs(Array.from({ length: 15 }, (_, n) => job('api', n)));
      for (const j of jobs) await harness.finished(j.id);
      const claims = (await db.sql`SELECT extract(epoch FROM claimed_at) * 1000 AS ms FROM test_claims ORDER BY 1`).map((r) => Number(r.ms));
      expect(claims).toHaveLength(15);
      for (let i = 5; i < claims.length; i++) expect(claims[i]! - claims[i - 5]!).toBeGreaterThanOrEqual(1000);
      expect(claims.at(-1)! - claims[0]!).toBeLessThan(4000); // two windows and a little: not held back longer than the limit asks
    } finally {
      await db.sql`DROP TRIGGER test_copy_claim ON taiat_rate_claims`;
      await db.sql`DROP TABLE test_claims`;
    }
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
    // Its rate limit removed, the queue keeps no claim log (nothing would prune it any more).
    await harness.jobs.setQueueLimits('held', { rateLimit: null });
    expect(await db.sql`SELECT 1 FROM taiat_rate_claims WHERE queue = 'held'`).toHaveLength(0);
  });

  it('a limited queue with a backlog does not take every free slot from the worker\'s other queues', async () => {
    await harness.jobs.setQueueLimits('bulk', { concurrency: 1000 });
    await harness.jobs.createJobs(Array.from({ length: 300 }, (_, n) => job('bulk', n)));
    const started: string[] = [];
    await harness.startWorker({ agents: { work: async (_p, ctx) => { started.push(ctx.job.queue); await new Promise((r) => setTimeout(r, 50)); return null; } },
      queues: ['bulk', 'urgent'], maxConcurrentJobs: 4 });
    await waitFor(() => started.length >= 4, 'the bulk queue to start');
    const urgent = await harness.jobs.createJob(job('urgent', 1));
    // Claims alternate which kind goes first: the other queue's job starts long before bulk drains (300 x 50 ms / 4 slots).
    await waitFor(() => started.includes('urgent'), 'the other queue\'s job to start', 2000);
    expect((await db.sql`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = 'bulk'`)[0]!.n).toBeGreaterThan(100);
    await harness.finished(urgent.id);
  }, 30_000);

  it('a claim that waited for its queue\'s lock hands out whole leases, counted from when it got the lock', async () => {
    await harness.jobs.setQueueLimits('slow', { concurrency: 5 });
    await harness.jobs.createJob(job('slow', 1));
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    let locked!: () => void;
    const ready = new Promise<void>((r) => (locked = r));
    const holder = other.begin(async (tx) => {
      await tx`SELECT 1 FROM taiat_queues WHERE name = 'slow' FOR UPDATE`; // a long lock holder (an open psql session, say)
      locked();
      await new Promise((r) => setTimeout(r, 1500));
    });
    try {
      await ready;
      const [claimed] = await db.sql`
        SELECT lease_expires_at > clock_timestamp() AS alive, lease_expires_at - started_at AS ahead
          FROM taiat_claim_limited(ARRAY['slow']::varchar[], 'w1', 1, 1)`;
      // Leased for 1 s from the lock, not from the statement's start 1.5 s earlier (spent at once).
      expect(claimed).toMatchObject({ alive: true });
    } finally {
      await holder;
      await other.end();
    }
  });

  it('removing a queue\'s settings (a typo\'s, or a paused queue\'s) frees its jobs and leaves no trace of them', async () => {
    await harness.jobs.createJob(job('held', 1));
    await harness.jobs.pauseQueue('held');
    await harness.jobs.setKeyLimits('held', 'k', { concurrency: 1 });
    await harness.jobs.pauseQueue('tpyo');
    const rec = recorder(1);
    await harness.startWorker({ agents: { work: rec.agent }, queues: ['held'] });
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.ran).toEqual([]);
    expect(await harness.jobs.removeQueue('held')).toBe(true);
    await waitFor(async () => (await db.sql`SELECT 1 FROM taiat_jobs WHERE queue = 'held'`).length === 0, 'the freed queue to drain');
    expect(await harness.jobs.removeQueue('tpyo')).toBe(true);
    expect(await harness.jobs.removeQueue('tpyo')).toBe(false);
    expect(await harness.jobs.getQueue('held')).toBeNull();
    expect((await harness.jobs.listQueues()).map((q) => q.name)).not.toContain('tpyo');
    expect(await db.sql`SELECT * FROM taiat_queue_keys`).toHaveLength(0);
    await expect(harness.jobs.removeQueue('')).rejects.toMatchObject({ field: 'queue' });
  });

  it('a key-limited claim of fewer jobs than the keys allow locks only those it takes; a hand-over looks at the freed keys alone', async () => {
    await harness.jobs.setQueueLimits('tenants', { keyConcurrency: 2 });
    for (const key of ['a', 'b', 'c']) await keyed('tenants', key, 2);
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await db.sql.begin(async (tx) => {
        const taken = await tx`SELECT id FROM taiat_claim_limited(ARRAY['tenants']::varchar[], 'w1', 1, 30)`;
        expect(taken).toHaveLength(1);
        // Every other ready job can be locked at once by another session: none was locked and left.
        const free = await other`SELECT id FROM taiat_jobs WHERE status = 'pending' AND id <> ${taken[0]!.id} FOR UPDATE NOWAIT`;
        expect(free).toHaveLength(5);
      });
      const handOver = (keys: string[], queues: string[]) => db.sql<{ concurrency_key: string }[]>`
        SELECT concurrency_key FROM taiat_claim_limited(ARRAY['tenants']::varchar[], 'w1', 10, 30, ${keys}::varchar[], ${queues}::varchar[])`;
      // Key c freed one place (of another queue's): nothing of this queue is taken.
      expect(await handOver(['c'], ['elsewhere'])).toHaveLength(0);
      // Key c freed one place: c takes one job although its limit leaves room for two, and a and b, with room too, take none.
      expect((await handOver(['c'], ['tenants'])).map((r) => r.concurrency_key)).toEqual(['c']);
    } finally {
      await other.end();
    }
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
