import pino from 'pino';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { TaiatError, Worker, type Job } from '../../src/index.js';
import { connectionsTo, createDatabase } from '../support/database.js';
import { useWorkerHarness } from '../support/harness.js';
import { deferred, waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;


describe('worker', () => {
  it('runs an agent with its parameters and records the result, attempts, worker and duration', async () => {
    const worker = await startWorker({ agents: { double: async (p) => ({ doubled: (p.n as number) * 2 }) } });
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'd', payload: { agent_name: 'double', parameters: { n: 21 } } });
    const done = await finished(job.id);
    expect(done).toMatchObject({ status: 'completed', result: { doubled: 42 }, attempts: 1, workerId: worker.id, errorMessage: null });
    expect(done.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(done.startedAt!.getTime()).toBeLessThanOrEqual(done.completedAt!.getTime());
    const [live] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`;
    expect(live!.n).toBe(0);
  });

  it('gives the executor the job, attempt, signal and logger; custom executors come first', async () => {
    let seen: { attempt: number; aborted: boolean; jobId: string } | undefined;
    let claimed: Job | undefined;
    let live: Job | null = null;
    await startWorker({
      agents: { x: () => 'agent' },
      executors: [{
        canExecute: (job) => job.jobType === 'query' || job.name === 'take-over',
        execute: async (job, ctx) => {
          if (job.jobType === 'query') {
            claimed = ctx.job;
            live = await harness.jobs.getJob(job.id);
          } else seen = { attempt: ctx.attempt, aborted: ctx.signal.aborted, jobId: ctx.job.id };
          ctx.logger.info('running');
          return `custom:${job.name}`;
        },
      }],
    });
    const q = await harness.jobs.createJob({ jobType: 'query', name: 'q', payload: { query: 'trends?' } });
    const a = await harness.jobs.createJob({ jobType: 'agent', name: 'take-over', payload: { agent_name: 'x' } });
    expect((await finished(q.id)).result).toBe('custom:q');
    expect((await finished(a.id)).result).toBe('custom:take-over');
    expect(seen).toEqual({ attempt: 1, aborted: false, jobId: a.id });
    // The claimed job, as the executor sees it, is the row as the claim left it.
    expect(claimed).toEqual(live);
    expect(claimed).toMatchObject({ status: 'running', workerId: expect.any(String), attempts: 1, location: 'live' });
  });

  it('fails a job no executor can run at once, without retries, naming what is missing', async () => {
    await startWorker({ agents: { known: () => 1 } });
    const a = await harness.jobs.createJob({ jobType: 'agent', name: 'a', payload: { agent_name: 'ghost' }, maxRetries: 5 });
    const q = await harness.jobs.createJob({ jobType: 'mystery', name: 'm' });
    expect(await finished(a.id)).toMatchObject({ status: 'failed', attempts: 1, retryCount: 0, errorMessage: "no agent named 'ghost' is registered (known: known)" });
    expect(await finished(q.id)).toMatchObject({ status: 'failed', errorMessage: "no executor can run jobs of type 'mystery'" });
  });

  it('retries a failing job with backoff, recording each error, then fails it for good', async () => {
    const worker = await startWorker({ agents: { flaky: (_p, ctx) => { throw new Error(`boom ${ctx.attempt}`); } }, retryBackoff: { base: 0.05, jitter: 0 } });
    const delays: number[] = [];
    worker.on('job:retried', (_job, _err, delay) => delays.push(delay));
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'f', payload: { agent_name: 'flaky' }, maxRetries: 2 });
    const done = await finished(job.id);
    expect(done).toMatchObject({ status: 'failed', attempts: 3, retryCount: 2, errorMessage: 'boom 3' });
    expect(done.attemptErrors.map((e) => [e.attempt, e.error, e.workerId])).toEqual([[1, 'boom 1', worker.id], [2, 'boom 2', worker.id], [3, 'boom 3', worker.id]]);
    expect(delays).toEqual([0.05, 0.1]);
  });

  it('records an error message Postgres cannot store (NUL, lone surrogate) readably, and goes on', async () => {
    // Such a message once made the whole outcome batch fail on every resend: the jobs in it never ended.
    await startWorker({
      agents: { bad: (_p, ctx) => { throw new Error(ctx.attempt === 1 ? 'nul \u0000 here' : 'cut \ud83d'); }, fine: () => 'ok' },
      retryBackoff: { base: 0.01, jitter: 0 },
    });
    const bad = await harness.jobs.createJob({ jobType: 'agent', name: 'b', payload: { agent_name: 'bad' }, maxRetries: 1 });
    const fine = await harness.jobs.createJob({ jobType: 'agent', name: 'f', payload: { agent_name: 'fine' } });
    const done = await finished(bad.id);
    expect(done).toMatchObject({ status: 'failed', attempts: 2, errorMessage: 'cut \ufffd' });
    expect(done.attemptErrors.map((e) => e.error)).toEqual(['nul \ufffd here', 'cut \ufffd']);
    expect(await finished(fine.id)).toMatchObject({ status: 'completed', result: 'ok' });
  });

  it('fails a job readably whatever its executor throws (a non-string message, a BigInt, a cycle)', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const odd = Object.assign(new Error('x'), { message: { code: 7 } as unknown as string });
    await startWorker({ agents: { odd: () => { throw odd; }, big: () => { throw 10n; }, loop: () => { throw cyclic; }, fine: () => 'ok' } });
    const make = (agent: string) => harness.jobs.createJob({ jobType: 'agent', name: agent, payload: { agent_name: agent }, maxRetries: 0 });
    const [a, b, c, f] = await Promise.all([make('odd'), make('big'), make('loop'), make('fine')]);
    expect(await finished(a.id)).toMatchObject({ status: 'failed', errorMessage: '{"code":7}' });
    expect(await finished(b.id)).toMatchObject({ status: 'failed', errorMessage: '10' });
    expect(await finished(c.id)).toMatchObject({ status: 'failed', errorMessage: '[object Object]' });
    expect(await finished(f.id)).toMatchObject({ status: 'completed', result: 'ok' });
  });

  it('fails a job that waits for an id Postgres cannot store, without holding up other outcomes', async () => {
    await startWorker({ agents: { waits: (_p, ctx) => ctx.waitFor(['no\u0000such']), fine: () => 'ok' } });
    const w = await harness.jobs.createJob({ jobType: 'agent', name: 'w', payload: { agent_name: 'waits' } });
    const f = await harness.jobs.createJob({ jobType: 'agent', name: 'f', payload: { agent_name: 'fine' } });
    expect(await finished(w.id)).toMatchObject({ status: 'failed', errorMessage: 'waitFor: a job id has a NUL character or a lone surrogate' });
    expect(await finished(f.id)).toMatchObject({ status: 'completed' });
  });

  it('succeeds on a retry after a failure', async () => {
    await startWorker({ agents: { once: (_p, ctx) => { if (ctx.attempt === 1) throw new Error('first'); return 'ok'; } }, retryBackoff: { base: 0.01 } });
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'o', payload: { agent_name: 'once' } });
    expect(await finished(job.id)).toMatchObject({ status: 'completed', result: 'ok', attempts: 2, retryCount: 1 });
  });

  it('aborts a job past its timeout and counts a failed attempt', async () => {
    let reason: unknown;
    await startWorker({ agents: { slow: (_p, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason; reject(new Error('aborted')); })) } });
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 's', payload: { agent_name: 'slow' }, timeoutSeconds: 0.2, maxRetries: 0 });
    expect(await finished(job.id)).toMatchObject({ status: 'failed', errorMessage: 'timed out after 0.2s' });
    expect(reason).toBe('timeout');
  });

  it('cancels a running job: its signal aborts, it ends cancelled and is not retried', async () => {
    const started = deferred();
    await startWorker({ agents: { wait: (_p, ctx) => { started.resolve(); return new Promise(() => {}); } } });
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'w', payload: { agent_name: 'wait' } });
    await started.promise;
    const during = await harness.jobs.cancelJob(job.id);
    expect(['running', 'cancelled']).toContain(during.status); // the worker may have finished it already
    expect(await finished(job.id)).toMatchObject({ status: 'cancelled', attempts: 1, errorMessage: 'cancelled by request while running' });
  });

  it('claims by priority, then run_at, then age, and skips jobs scheduled for later', async () => {
    const order: string[] = [];
    const later = await harness.jobs.createJob({ jobType: 'agent', name: 'later', payload: { agent_name: 'rec' }, priority: 'urgent', runAt: new Date(Date.now() + 60_000) });
    await harness.jobs.createJobs([
      { jobType: 'agent', name: 'low', payload: { agent_name: 'rec' }, priority: 'low' },
      { jobType: 'agent', name: 'normal-1', payload: { agent_name: 'rec' } },
      { jobType: 'agent', name: 'normal-2', payload: { agent_name: 'rec' } },
      { jobType: 'agent', name: 'urgent', payload: { agent_name: 'rec' }, priority: 'urgent' },
    ]);
    const worker = await startWorker({ maxConcurrentJobs: 1, agents: { rec: (_p, ctx) => { order.push(ctx.job.name); } } });
    await worker.idle();
    expect(order).toEqual(['urgent', 'normal-1', 'normal-2', 'low']);
    expect((await harness.jobs.getJob(later.id))?.status).toBe('pending');
  });

  it('runs a dependent only after its dependency completed, with its result', async () => {
    const seen: unknown[] = [];
    await startWorker({ maxConcurrentJobs: 4, agents: { step: (p, ctx) => { seen.push([ctx.job.name, ctx.dependencyResults]); return { from: ctx.job.name, n: p.n ?? 0 }; } } });
    const [a, , c] = await harness.jobs.createJobs([
      { id: 'dep-a', jobType: 'agent', name: 'extract', payload: { agent_name: 'step', parameters: { n: 1 } } },
      { id: 'dep-b', jobType: 'agent', name: 'transform', payload: { agent_name: 'step' }, dependencies: ['dep-a'] },
      { id: 'dep-c', jobType: 'agent', name: 'load', payload: { agent_name: 'step' }, dependencies: ['dep-b', 'dep-a'] },
    ]);
    await finished(c!.id);
    expect(seen).toEqual([
      ['extract', {}],
      ['transform', { 'dep-a': { from: 'extract', n: 1 }, extract: { from: 'extract', n: 1 } }],
      ['load', {
        'dep-b': { from: 'transform', n: 0 }, transform: { from: 'transform', n: 0 },
        'dep-a': { from: 'extract', n: 1 }, extract: { from: 'extract', n: 1 },
      }],
    ]);
    expect((await harness.jobs.getJob(a!.id))?.status).toBe('completed');
  });

  it('counts a dependent\'s wait from its release, not from its creation while it was blocked', async () => {
    const readyAt = new Map<string, Date>();
    const worker = await startWorker({ agents: { slow: () => new Promise((r) => setTimeout(() => r('done'), 1200)), quick: () => 'ok' } });
    worker.on('job:started', (job, ready) => readyAt.set(job.id, ready));
    await harness.jobs.createJobs([
      { id: 'slow-parent', jobType: 'agent', name: 'parent', payload: { agent_name: 'slow' } },
      { id: 'quick-child', jobType: 'agent', name: 'child', payload: { agent_name: 'quick' }, dependencies: ['slow-parent'] },
    ]);
    const parent = await finished('slow-parent');
    const child = await finished('quick-child');
    expect(readyAt.get('quick-child')!.getTime()).toBe(parent!.completedAt!.getTime());
    expect(child!.startedAt!.getTime() - readyAt.get('quick-child')!.getTime()).toBeLessThan(1000);
    expect(child!.startedAt!.getTime() - child!.createdAt.getTime()).toBeGreaterThan(1000);
    expect(readyAt.get('slow-parent')!.getTime()).toBe((await harness.jobs.getJob('slow-parent'))!.runAt.getTime());
  });

  it('prunes history past the retention, one worker at a time', async () => {
    const worker = await startWorker({ historyRetentionDays: 7 });
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at)
      SELECT 'p' || g, 'p' || g, 't', 'n', 'completed', now() - (g || ' days')::interval + interval '1 hour' FROM generate_series(1, 20) g`;
    expect(await worker.pruneHistory()).toBe(13);
    const [left] = await db.sql`SELECT count(*)::int AS n FROM taiat_job_history`;
    expect(left!.n).toBe(7);
    const reserved = await db.sql.reserve();
    await reserved`SELECT pg_advisory_lock(7211390)`;
    expect(await worker.pruneHistory()).toBeNull();
    await reserved`SELECT pg_advisory_unlock(7211390)`;
    reserved.release();
  });

  it('with a local queue: claims ahead, runs each job once, cancels and releases queued jobs that never started', async () => {
    const gate = deferred();
    const runs = new Map<string, number>();
    const worker = await startWorker({
      maxConcurrentJobs: 2, localQueueSize: 10,
      agents: { gated: async (_p, ctx) => { runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1); await gate.promise; } },
    });
    const created = await harness.jobs.createJobs(Array.from({ length: 30 }, (_, i) => ({ id: `lq-${String(i).padStart(2, '0')}`, jobType: 'agent', name: 'g', payload: { agent_name: 'gated' } })));
    // 2 running and 10 queued, all leased by this worker; the rest still pending.
    // And the 2 started: the claim commits before the worker has the jobs in hand (a race the
    // pooling pass's extra hop made visible).
    await waitFor(async () => runs.size === 2 && (await db.sql`SELECT count(*)::int AS n FROM taiat_jobs WHERE status = 'running'`)[0]!.n === 12, '12 claimed, 2 started');
    const queued = (await db.sql`SELECT id FROM taiat_jobs WHERE status = 'running' AND id NOT IN ${db.sql([...runs.keys()])} ORDER BY id LIMIT 1`)[0]!.id as string;
    await harness.jobs.cancelJob(queued);
    expect(await finished(queued)).toMatchObject({ status: 'cancelled', errorMessage: 'cancelled by request before it started' });
    gate.resolve();
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_job_history`)[0]!.n === 30, 'all 30 done');
    expect(runs.size).toBe(29);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.has(queued)).toBe(false);
    expect(created).toHaveLength(30);

    // Stopping releases queued jobs without counting an attempt.
    await worker.stop();
    const hold = deferred();
    const second = await startWorker({ maxConcurrentJobs: 1, localQueueSize: 5, shutdownTimeout: 5, agents: { gated: () => hold.promise } });
    await harness.jobs.createJobs(Array.from({ length: 4 }, (_, i) => ({ id: `rel-${i}`, jobType: 'agent', name: 'r', payload: { agent_name: 'gated' } })));
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_jobs WHERE status = 'running'`)[0]!.n === 4, '4 claimed');
    const stopping = second.stop();
    hold.resolve();
    await stopping;
    const rows = await db.sql`SELECT status, attempts, count(*)::int AS n FROM taiat_jobs GROUP BY 1, 2`;
    expect(rows).toEqual([{ status: 'pending', attempts: 0, n: 3 }]);
  });

  it('releases the jobs of a claim still in flight when stop() began: not run, not counted, not left leased', async () => {
    await harness.jobs.createJobs(Array.from({ length: 3 }, (_, i) => ({ id: `in-flight-${i}`, jobType: 'agent', name: 'f', payload: { agent_name: 'never' } })));
    const runs: string[] = [];
    // The claim's UPDATE waits on this lock (its FOR UPDATE and the worker's start-up do not).
    // A client of its own: db.sql's second connection would outlive the test as a leak.
    const locker = postgres(db.url, { max: 1, onnotice: () => {} });
    const blocker = await locker.reserve();
    await blocker`BEGIN`;
    await blocker`LOCK TABLE taiat_jobs IN SHARE MODE`;
    const worker = await startWorker({ localQueueSize: 10, agents: { never: (_p, ctx) => void runs.push(ctx.job.id) } });
    await waitFor(async () => (await db.sql`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE "public"."taiat_jobs" j%'`)[0]!.n === 1, 'the claim to wait');
    const stopping = worker.stop();
    await blocker`COMMIT`;
    blocker.release();
    await locker.end();
    await stopping;
    expect(runs).toEqual([]);
    const rows = await db.sql`SELECT id, status, attempts, lease_owner FROM taiat_jobs ORDER BY id`;
    expect(rows).toEqual([0, 1, 2].map((i) => ({ id: `in-flight-${i}`, status: 'pending', attempts: 0, lease_owner: null })));
  });

  it('releases claimed jobs whose dependency results could not be read, instead of stranding them until their lease expires', async () => {
    const first = await startWorker({ agents: { noop: () => 'a' } });
    const a = await harness.jobs.createJob({ jobType: 'agent', name: 'a', payload: { agent_name: 'noop' } });
    await finished(a.id);
    await first.stop();
    const runs: number[] = [];
    await startWorker({ leaseSeconds: 1, heartbeatInterval: 0.2, agents: { dependent: (_p, ctx) => void runs.push(ctx.attempt) } });
    const b = await harness.jobs.createJob({
      jobType: 'agent', name: 'b', payload: { agent_name: 'dependent' }, dependencies: [a.id], runAt: new Date(Date.now() + 1500),
    });
    // The claim of b succeeds, the read of a's result fails while history is away.
    await db.sql`ALTER TABLE taiat_job_history RENAME TO taiat_job_history_away`;
    try {
      await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_jobs WHERE id = ${b.id} AND attempts > 0`)[0]!.n === 1, 'b claimed');
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await db.sql`ALTER TABLE taiat_job_history_away RENAME TO taiat_job_history`;
    }
    const done = await finished(b.id);
    expect(done).toMatchObject({ status: 'completed', attempts: 1, attemptErrors: [] });
    expect(runs).toEqual([1]);
  });

  it('keeps the lease of a finished job while its outcome waits to be written (no second run)', async () => {
    const runs = new Map<string, number>();
    await startWorker({ leaseSeconds: 1, heartbeatInterval: 0.2, agents: { once: (_p, ctx) => void runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1) } });
    // Block the move to history for 3 leases' time.
    const blocker = await db.sql.reserve();
    await blocker`BEGIN`;
    await blocker`LOCK TABLE taiat_job_history IN EXCLUSIVE MODE`;
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'slow-write', payload: { agent_name: 'once' } });
    await waitFor(() => runs.get(job.id) === 1, 'the job to run');
    await new Promise((r) => setTimeout(r, 3000));
    await blocker`COMMIT`;
    blocker.release();
    expect(await finished(job.id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(runs.get(job.id)).toBe(1);
  });

  it('sends an outcome write again when it outlives its deadline; the job still ends once', async () => {
    const runs = new Map<string, number>();
    const errors: string[] = [];
    const worker = await startWorker({ leaseSeconds: 1, heartbeatInterval: 0.2, agents: { once: (_p, ctx) => void runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1) } });
    worker.on('worker:error', (e) => errors.push(e.message));
    // Past the 10 s deadline of a write: the first write is abandoned (it still waits on the lock
    // in the server) and sent again; whichever commits first moves the job, the other finds nothing.
    const blocker = await db.sql.reserve();
    await blocker`BEGIN`;
    await blocker`LOCK TABLE taiat_job_history IN EXCLUSIVE MODE`;
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'stuck-write', payload: { agent_name: 'once' } });
    await waitFor(() => errors.some((m) => /writing outcomes did not return within 10 s/.test(m)), 'the write deadline', 20_000);
    await blocker`COMMIT`;
    blocker.release();
    expect(await finished(job.id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(runs.get(job.id)).toBe(1);
    const [live] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs`;
    expect(live!.n).toBe(0);
  }, 40_000);

  it('releases at once the jobs that an abandoned outcome write hands over when it commits late', async () => {
    // Queue limit 1: the write of the first job's outcome claims the second (the hand-over). That
    // claim waits on the queue's row past the write's 10 s deadline, and the write is abandoned
    // (sent again, the new one waits on the first job's row); when it then commits, the second job
    // is leased here but unknown to the worker: it must go back to pending and run (its first
    // attempt, not counted twice), not wait 5 s for its lease to expire and a rescue.
    await harness.jobs.setQueueLimits('limited', { concurrency: 1 });
    const errors: string[] = [];
    const hold = deferred<void>();
    const worker = await startWorker({ leaseSeconds: 5, queues: ['limited'], agents: { held: () => hold.promise.then(() => null), once: () => null } });
    worker.on('worker:error', (e) => errors.push(e.message));
    const first = await harness.jobs.createJob({ jobType: 'agent', name: 'first', queue: 'limited', payload: { agent_name: 'held' } });
    await waitFor(async () => (await db.sql`SELECT 1 FROM taiat_jobs WHERE id = ${first.id} AND status = 'running'`).length === 1, 'the first job to run');
    const second = await harness.jobs.createJob({ jobType: 'agent', name: 'second', queue: 'limited', payload: { agent_name: 'once' } });
    const blocker = await db.sql.reserve();
    await blocker`BEGIN`;
    await blocker`SELECT 1 FROM taiat_queues WHERE name = 'limited' FOR UPDATE`;
    hold.resolve();
    await waitFor(() => errors.some((m) => /writing outcomes did not return within 10 s/.test(m)), 'the write deadline', 20_000);
    await blocker`COMMIT`;
    blocker.release();
    const released = Date.now();
    expect(await finished(first.id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(await finished(second.id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(Date.now() - released).toBeLessThan(4_000);
  }, 40_000);

  it('hands over the key places of an abandoned outcome write when it commits late', async () => {
    // A limit on keys alone: the write claims nothing, and its freed places pass on after its
    // commit. Held past its 10 s deadline, it is abandoned and sent again 500 ms later (backoff);
    // released at once, the abandoned write commits first, and the one sent again finds its job
    // gone. The key's place must be handed over at that late commit, not left to the claim
    // loop's next look or another worker's.
    await harness.jobs.setQueueLimits('tenants', { keyConcurrency: 1 });
    const errors: string[] = [];
    const hold = deferred<void>();
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const worker = await startWorker({ leaseSeconds: 5, queues: ['tenants'], logger, agents: { held: () => hold.promise.then(() => null), once: () => null } });
    worker.on('worker:error', (e) => errors.push(e.message));
    const [first, second] = await harness.jobs.createJobs([
      { jobType: 'agent', name: 'first', queue: 'tenants', concurrencyKey: 'a', payload: { agent_name: 'held' } },
      { jobType: 'agent', name: 'second', queue: 'tenants', concurrencyKey: 'a', payload: { agent_name: 'once' } },
    ]);
    await waitFor(async () => (await db.sql`SELECT 1 FROM taiat_jobs WHERE id = ${first!.id} AND status = 'running'`).length === 1, 'the first job to run');
    const blocker = await db.sql.reserve();
    await blocker`BEGIN`;
    await blocker`LOCK TABLE taiat_job_history IN EXCLUSIVE MODE`;
    hold.resolve();
    await waitFor(() => errors.some((m) => /writing outcomes did not return within 10 s/.test(m)), 'the write deadline', 20_000);
    const [{ now: released }] = (await blocker`SELECT clock_timestamp() AS now`) as unknown as [{ now: Date }];
    await blocker`COMMIT`;
    blocker.release();
    expect(await finished(first!.id)).toMatchObject({ status: 'completed', attempts: 1 });
    const done = await finished(second!.id);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    expect(done.startedAt!.getTime() - released.getTime()).toBeLessThan(1_000);
    // The late commit's own hand-over took the place (the claim loop looks every second, and may come first).
    expect(warnings.map((l) => JSON.parse(l) as { msg: string; places?: number })).toContainEqual(
      expect.objectContaining({ msg: 'an abandoned outcome write committed late; handing over the places it freed', places: 1 }));
  }, 40_000);

  it('refuses to start on a database without the schema, naming what is missing, and closes its connections', async () => {
    const empty = await createDatabase({ migrated: false });
    try {
      const worker = new Worker({ databaseUrl: empty.url, agents: { x: () => null } });
      const error = await worker.start().then(() => null, (e: TaiatError) => e);
      expect(error?.code).toBe('TAIAT_SCHEMA_NOT_CURRENT');
      expect(error?.message).toMatch(/relation taiat_jobs/);
      expect(await connectionsTo(db.sql, empty.name)).toBe(0);
    } finally {
      await empty.drop();
    }
  });

  it('rejects bad options naming the option', () => {
    expect(() => new Worker({ databaseUrl: db.url, maxConcurrentJobs: 0 })).toThrow(/maxConcurrentJobs: maxConcurrentJobs must be at least 1/);
    expect(() => new Worker({ databaseUrl: db.url, queues: [] })).toThrow(/queues: queues must name at least one queue/);
    expect(() => new Worker({ databaseUrl: db.url, agents: { a: 'nope' as never } })).toThrow(/agents\.a: each agent must be a function/);
    expect(() => new Worker({ databaseUrl: db.url, pollIntervall: 1 } as never)).toThrow(expect.objectContaining({
      field: 'pollIntervall', message: "pollIntervall: unknown option 'pollIntervall'",
    }));
  });

  it('claims nothing when it has nothing to run, and still runs schedules', async () => {
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'waits', payload: { agent_name: 'elsewhere' } });
    await harness.jobs.upsertSchedule('from-idle-worker', { every: 1, job: { jobType: 'agent', name: 'tick', queue: 'other', payload: { agent_name: 'elsewhere' } } });
    const worker = await startWorker({ pollInterval: 0.2 });
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_schedule_ticks WHERE schedule_id = 'from-idle-worker'`)[0]!.n > 0, 'a tick');
    await new Promise((r) => setTimeout(r, 500));
    expect(await harness.jobs.getJob(job.id)).toMatchObject({ status: 'pending', attempts: 0 });
    await harness.jobs.removeSchedule('from-idle-worker');
    await worker.stop();
  });

  it('registers a reused worker id afresh: its queues, agents and heartbeat interval are the new process\'s', async () => {
    const job = { jobType: 'agent', name: 'n', payload: { agent_name: 'one' } };
    const first = await startWorker({ workerId: 'fixed-id', queues: ['a'], heartbeatInterval: 5, agents: { one: () => null }, schedules: { old: { cron: '0 3 * * *', job } } });
    await first.stop();
    const second = await startWorker({ workerId: 'fixed-id', queues: ['b'], heartbeatInterval: 7, agents: { two: () => null } });
    const [row] = await db.sql`SELECT queues, heartbeat_seconds, agents, schedules, stopped_at FROM taiat_workers WHERE id = 'fixed-id'`;
    expect(row).toEqual({ queues: ['b'], heartbeat_seconds: 7, agents: ['two'], schedules: [], stopped_at: null });
    await second.stop();
  });

  it('refuses durations a timer cannot wait (they fired at once, over and over), naming the option', () => {
    expect(() => new Worker({ databaseUrl: db.url, pruneIntervalHours: 600 })).toThrow(/pruneIntervalHours: pruneIntervalHours must be at most 500/);
    expect(() => new Worker({ databaseUrl: db.url, cleanupIntervalHours: 600 })).toThrow(/cleanupIntervalHours: cleanupIntervalHours must be at most 500/);
    expect(() => new Worker({ databaseUrl: db.url, pollInterval: 4000 })).toThrow(/pollInterval: pollInterval must be at most 3600/);
    expect(() => new Worker({ databaseUrl: db.url, leaseSeconds: 1e9 })).toThrow(/leaseSeconds: leaseSeconds must be at most 86400/);
    expect(() => new Worker({ databaseUrl: db.url, shutdownTimeout: 1e9 })).toThrow(/shutdownTimeout: shutdownTimeout must be at most 86400/);
  });

  it('keeps renewing the leases of running jobs while stop() waits for them: no other worker takes them back', async () => {
    const runs = new Map<string, number>();
    const slow = async (_p: unknown, ctx: { job: Job }) => {
      runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 3000));
      return 'done';
    };
    const stopping = await startWorker({ leaseSeconds: 1, heartbeatInterval: 0.2, shutdownTimeout: 10, agents: { slow } });
    const job = await harness.jobs.createJob({ jobType: 'agent', name: 'slow', payload: { agent_name: 'slow' } });
    await waitFor(() => runs.get(job.id) === 1, 'the job to start');
    // A second worker on the same queue rescues expired leases every half lease.
    const recovered: string[] = [];
    const other = await startWorker({ leaseSeconds: 1, heartbeatInterval: 0.2, agents: { slow } });
    other.on('job:recovered', (id) => recovered.push(id));
    await stopping.stop();
    expect(await finished(job.id)).toMatchObject({ status: 'completed', attempts: 1, retryCount: 0, result: 'done', workerId: stopping.id });
    expect(runs.get(job.id)).toBe(1);
    expect(recovered).toEqual([]);
  });

  it('stop() gives up writing outcomes after three tries in a row, even while the writer was already retrying', async () => {
    await db.sql`CREATE OR REPLACE FUNCTION refuse_history() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'history refused by test'; END $$`;
    await db.sql`CREATE TRIGGER refuse_history BEFORE INSERT ON taiat_job_history FOR EACH ROW EXECUTE FUNCTION refuse_history()`;
    try {
      const errors: string[] = [];
      const worker = await startWorker({ agents: { quick: () => 'ok' } });
      worker.on('worker:error', (e) => errors.push(e.message));
      await harness.jobs.createJob({ jobType: 'agent', name: 'unwritable', payload: { agent_name: 'quick' } });
      await waitFor(() => errors.length > 0, 'a failed outcome write');
      const stopped = await Promise.race([
        worker.stop().then(() => 'stopped'),
        new Promise((r) => setTimeout(() => r('still stopping after 20 s'), 20_000)),
      ]);
      expect(stopped).toBe('stopped');
      expect(errors.every((m) => /history refused by test/.test(m))).toBe(true);
    } finally {
      await db.sql`DROP TRIGGER refuse_history ON taiat_job_history`;
    }
  }, 30_000);

  it('runs a job taken back from a lost worker when its retry falls due, not at the next poll', async () => {
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, status, lease_owner, lease_expires_at, attempts, payload)
                 VALUES ('orphan', 'agent', 'orphan', 'running', 'dead-worker', now() - interval '1 minute', 1, '{"agent_name": "ok"}')`;
    const started = Date.now();
    await startWorker({ agents: { ok: () => 'ok' }, pollInterval: 30, retryBackoff: { base: 0.2, max: 0.2, jitter: 0 } });
    expect(await finished('orphan')).toMatchObject({ status: 'completed', attempts: 2 });
    // Before the fix it waited for the 30 s poll (the claim right after the rescue found it not yet due).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('survives a rescue that fails at start (a connection lost then ended the process) and runs jobs', async () => {
    await db.sql`CREATE OR REPLACE FUNCTION test_refuse_rescue() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF OLD.lease_owner = 'ghost' THEN RAISE EXCEPTION 'rescue refused'; END IF; RETURN NEW; END $$`;
    await db.sql`CREATE TRIGGER test_refuse_rescue BEFORE UPDATE ON taiat_jobs FOR EACH ROW EXECUTE FUNCTION test_refuse_rescue()`;
    try {
      await db.sql`INSERT INTO taiat_jobs (id, job_type, name, status, lease_owner, lease_expires_at, attempts)
                   VALUES ('ghost-job', 'task', 'lost', 'running', 'ghost', now() - interval '1 minute', 1)`;
      await startWorker({ agents: { ok: () => 'ok' } });
      const job = await harness.jobs.createJob({ jobType: 'agent', name: 'after', payload: { agent_name: 'ok' } });
      expect(await finished(job.id)).toMatchObject({ status: 'completed', result: 'ok' });
    } finally {
      await db.sql`DROP TRIGGER test_refuse_rescue ON taiat_jobs`;
    }
  });
});
