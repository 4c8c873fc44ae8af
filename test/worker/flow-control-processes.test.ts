// Flow control across separate `taiat-worker` processes (issue 20): the limits hold while several
// processes claim at once, and through a kill -9. What ran, when and where is measured from
// test_runs, written by the jobs themselves (test/fixtures/recording-agents.mjs), not from
// taiat's own bookkeeping.
import { spawn as spawnProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobManager, type NewJob } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { RECORDING_AGENTS, spawnWorker, TEST_RUNS_TABLE, WORKER_BIN, type WorkerProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const db = useTestDatabase();
let jobs: JobManager;
const children: WorkerProcess[] = [];

// A copy of every row the claim writes to taiat_rate_claims: the claim deletes them once they
// leave the longest window, and the test reads the claim times afterwards.
const RATE_CLAIMS_COPY = `
  CREATE TABLE IF NOT EXISTS test_rate_claims (queue text NOT NULL, claimed_at timestamptz NOT NULL);
  CREATE OR REPLACE FUNCTION test_copy_rate_claim() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO test_rate_claims (queue, claimed_at) VALUES (NEW.queue, NEW.claimed_at);
    RETURN NULL;
  END $$;
  CREATE OR REPLACE TRIGGER test_copy_rate_claim AFTER INSERT ON taiat_rate_claims FOR EACH ROW EXECUTE FUNCTION test_copy_rate_claim()`;

beforeAll(async () => {
  await db.sql.unsafe(TEST_RUNS_TABLE);
  await db.sql.unsafe(RATE_CLAIMS_COPY);
  jobs = await JobManager.connect({ databaseUrl: db.url });
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
  await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers, taiat_queues, taiat_queue_keys, taiat_rate_claims, test_runs, test_rate_claims CASCADE`;
});
afterAll(async () => {
  await jobs.close();
});

const spawn = (args: string[]) => {
  const w = spawnWorker(db.url, args);
  children.push(w);
  return w;
};
/** A worker with the default poll interval (spawnWorker sets 0.5 s). */
const spawnDefaultPoll = (args: string[]) => {
  const child = spawnProcess(process.execPath, [WORKER_BIN, '--agents', RECORDING_AGENTS, '--log-level', 'warn', ...args], {
    env: { ...process.env, TAIAT_DATABASE_URL: db.url, DATABASE_URL: '' }, stdio: 'ignore',
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const w: WorkerProcess = { child, output: () => '', exited };
  children.push(w);
  return w;
};
const stopAll = async (workers: WorkerProcess[]) => {
  for (const w of workers) w.child.kill('SIGTERM');
  return (await Promise.all(workers.map((w) => w.exited))).map((e) => e.code);
};

/** `record` jobs of a queue sleeping 50-100 ms, spread evenly; `key` goes in the parameters, for the test's joins. */
const sleepers = (queue: string, n: number, key?: string, prefix = queue): NewJob[] =>
  Array.from({ length: n }, (_, i) => ({
    jobType: 'agent', name: `${prefix}-${i}`, queue,
    payload: { agent_name: 'record', parameters: { sleepMs: 50 + ((i * 37) % 51), ...(key ? { key } : {}) } },
  }));

/** Sets the concurrency key in SQL: the test does not depend on `NewJob.concurrencyKey`. */
async function createKeyed(queue: string, key: string, n: number): Promise<string[]> {
  const ids = (await jobs.createJobs(sleepers(queue, n, key, `${queue}-${key}`))).map((j) => j.id);
  await db.sql`UPDATE taiat_jobs SET concurrency_key = ${key} WHERE id = ANY(${ids}::text[])`;
  return ids;
}

const historyCount = async (queue: string) =>
  (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_job_history WHERE queue = ${queue}`)[0]!.n;

/**
 * The most runs of a queue (per key, with `byKey`) that were ever in progress at once, by a sweep
 * over the jobs' own start and end times (microseconds); at equal times an end comes first.
 * A run's recorded span lies inside its claim-to-outcome span, so this never overstates.
 */
async function maxOverlap(queue: string, byKey = false, pids?: number[]): Promise<Map<string, number>> {
  const rows = await db.sql<{ key: string; peak: number }[]>`
    WITH runs AS (
      SELECT r.started_at, r.ended_at, ${byKey ? db.sql`coalesce(h.payload->'parameters'->>'key', '')` : db.sql`''`} AS key
        FROM test_runs r JOIN taiat_all_jobs h ON h.id = r.job_id
       WHERE h.queue = ${queue} AND r.ended_at IS NOT NULL
         AND (${pids ?? null}::int[] IS NULL OR r.pid = ANY(${pids ?? null}::int[]))
    ), events AS (
      SELECT key, started_at AS at, 1 AS delta FROM runs
      UNION ALL
      SELECT key, ended_at, -1 FROM runs
    ), swept AS (
      SELECT key, sum(delta) OVER (PARTITION BY key ORDER BY at, delta ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
        FROM events
    )
    SELECT key, max(running)::int AS peak FROM swept GROUP BY key ORDER BY key`;
  return new Map(rows.map((r) => [r.key, r.peak]));
}

/** Every job of the queue ran exactly once (test_runs), and completed at its first attempt (history). */
async function ranOnceEach(queue: string, n: number) {
  const [runs] = await db.sql`
    SELECT count(*)::int AS runs, count(DISTINCT r.job_id)::int AS jobs, count(*) FILTER (WHERE r.ended_at IS NULL)::int AS open
      FROM test_runs r JOIN taiat_job_history h ON h.job_id = r.job_id WHERE h.queue = ${queue}`;
  expect(runs).toEqual({ runs: n, jobs: n, open: 0 });
  const [hist] = await db.sql`
    SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'completed' AND attempts = 1)::int AS ok FROM taiat_job_history WHERE queue = ${queue}`;
  expect(hist).toEqual({ n, ok: n });
}

/** From the queue's first start to its last end, and the runs in progress on average over it. */
const busy = async (queue: string) =>
  (await db.sql<{ span: number; average: number }[]>`
    SELECT extract(epoch FROM max(r.ended_at) - min(r.started_at))::float8 AS span,
           (sum(extract(epoch FROM r.ended_at - r.started_at)) / extract(epoch FROM max(r.ended_at) - min(r.started_at)))::float8 AS average
      FROM test_runs r JOIN taiat_all_jobs h ON h.id = r.job_id WHERE h.queue = ${queue}`)[0]!;
const busyText = ({ span, average }: { span: number; average: number }) => `runs from first start to last end ${span.toFixed(2)} s, ${average.toFixed(1)} in progress on average`;

/** Processes that ran jobs of the queue, and how many each. */
const runsByPid = async (queue: string) =>
  (await db.sql<{ pid: number; n: number }[]>`
    SELECT r.pid, count(*)::int AS n FROM test_runs r JOIN taiat_all_jobs h ON h.id = r.job_id WHERE h.queue = ${queue} GROUP BY r.pid ORDER BY r.pid`)
    .map((r) => r.n);

describe('flow control across worker processes', () => {
  // Five slots each: no process can hold all eight places (a worker passes the places its jobs
  // free to its next jobs, in the outcome's transaction), so the limit is shared the whole time.
  it('a queue limit of 8 holds while 3 processes of 5 slots claim at once, and is used', async () => {
    await jobs.setQueueLimits('capped', { concurrency: 8 });
    await jobs.createJobs(sleepers('capped', 150));
    const started = Date.now();
    const workers = [0, 1, 2].map(() => spawn(['--queues', 'capped', '--max-concurrent-jobs', '5']));
    await waitFor(async () => (await historyCount('capped')) === 150, 'all 150 jobs in history', 40_000);
    const elapsed = Date.now() - started;
    expect(await stopAll(workers)).toEqual([0, 0, 0]);
    await ranOnceEach('capped', 150);
    const peak = (await maxOverlap('capped')).get('')!;
    const pids = await runsByPid('capped');
    console.log(`queue limit 8: peak ${peak} runs at once, runs per process ${pids.join('/')}, ${busyText(await busy('capped'))}, ${elapsed} ms from the spawns`);
    expect(peak).toBeLessThanOrEqual(8);
    expect(peak).toBeGreaterThan(4);
    expect(pids.length).toBeGreaterThanOrEqual(2); // the limit was shared, not kept by one process alone
  }, 60_000);

  it('key limits of 2 (and 1 for a key of its own) hold across 3 processes; every job runs once', async () => {
    await jobs.setQueueLimits('tenants', { keyConcurrency: 2 });
    await jobs.setKeyLimits('tenants', 'k0', { concurrency: 1 });
    await createKeyed('tenants', 'k0', 10);
    for (const key of ['k1', 'k2', 'k3', 'k4']) await createKeyed('tenants', key, 20);
    const started = Date.now();
    const workers = [0, 1, 2].map(() => spawn(['--queues', 'tenants', '--max-concurrent-jobs', '16']));
    await waitFor(async () => (await historyCount('tenants')) === 90, 'all 90 jobs in history', 40_000);
    const elapsed = Date.now() - started;
    expect(await stopAll(workers)).toEqual([0, 0, 0]);
    await ranOnceEach('tenants', 90);
    const peaks = await maxOverlap('tenants', true);
    const pids = await runsByPid('tenants');
    console.log(`key limits: peaks ${JSON.stringify(Object.fromEntries(peaks))}, all keys at once ${(await maxOverlap('tenants')).get('')}, runs per process ${pids.join('/')}, ${busyText(await busy('tenants'))}, ${elapsed} ms from the spawns`);
    expect(Object.fromEntries(peaks)).toEqual({ k0: 1, k1: 2, k2: 2, k3: 2, k4: 2 });
    // Keys run side by side: one busy key holds back no other.
    expect((await maxOverlap('tenants')).get('')!).toBeGreaterThan(2);
  }, 60_000);

  it('a rate limit of 10 a second holds across 3 processes, and the jobs take about jobs/10 seconds', async () => {
    await jobs.setQueueLimits('api', { rateLimit: { limit: 10, periodSeconds: 1 } });
    await jobs.createJobs(Array.from({ length: 40 }, (_, i) => ({ jobType: 'agent', name: `api-${i}`, queue: 'api', payload: { agent_name: 'record', parameters: { sleepMs: 20 } } })));
    const workers = [0, 1, 2].map(() => spawn(['--queues', 'api', '--max-concurrent-jobs', '16']));
    await waitFor(async () => (await historyCount('api')) === 40, 'all 40 jobs in history', 40_000);
    expect(await stopAll(workers)).toEqual([0, 0, 0]);
    await ranOnceEach('api', 40);

    // The claim times the claims counted by (a copy of taiat_rate_claims): in every window
    // (t - 1 s, t] ending at a claim, at most 10. Exact: the claim compares the same times.
    const [claims] = await db.sql<{ n: number; worst: number; span: number }[]>`
      SELECT count(*)::int AS n,
             max((SELECT count(*) FROM test_rate_claims o WHERE o.queue = c.queue AND o.claimed_at > c.claimed_at - interval '1 second' AND o.claimed_at <= c.claimed_at))::int AS worst,
             extract(epoch FROM max(claimed_at) - min(claimed_at))::float8 AS span
        FROM test_rate_claims c WHERE queue = 'api'`;
    // The jobs' own start times, independently. A job starts after its claim, which came after
    // the claim's transaction began (its history `started_at`): with `lag` the longest such delay,
    // starts within any window of 1 s - lag were claimed within 1 s (less a millisecond, so that
    // claims exactly 1 s apart, which the limit allows, do not count as one window).
    const [starts] = await db.sql<{ lag: number; worst: number }[]>`
      WITH s AS (
        SELECT r.started_at AS at, extract(epoch FROM r.started_at - h.started_at)::float8 AS lag
          FROM test_runs r JOIN taiat_job_history h ON h.job_id = r.job_id WHERE h.queue = 'api'
      ), lag AS (SELECT max(lag) AS lag FROM s)
      SELECT (SELECT lag FROM lag) AS lag,
             max((SELECT count(*) FROM s o WHERE o.at >= s.at AND o.at < s.at + make_interval(secs => 1 - (SELECT lag FROM lag) - 0.001)))::int AS worst
        FROM s`;
    console.log(`rate limit 10/s: ${claims!.n} claims, at most ${claims!.worst} in any 1 s, first to last claim ${claims!.span.toFixed(3)} s; `
      + `job starts: longest delay after the claim's transaction began ${(starts!.lag * 1000).toFixed(1)} ms, at most ${starts!.worst} starts in any window of 1 s less that`);
    expect(claims!.n).toBe(40);
    expect(claims!.worst).toBeLessThanOrEqual(10);
    expect(starts!.lag).toBeGreaterThanOrEqual(0);
    expect(starts!.lag).toBeLessThan(0.8); // else the window below is too short to mean much
    expect(starts!.worst).toBeLessThanOrEqual(10);
    // 40 claims at 10 a second need 4 windows: the last is at least 3 s after the first, and the
    // producer sleeps only until a window opens, so not much more.
    expect(claims!.span).toBeGreaterThanOrEqual(3);
    expect(claims!.span).toBeLessThan(5);
  }, 60_000);

  it('kill -9: the dead worker\'s jobs hold the queue limit until their leases are rescued, then another process runs the queue, at most 4 at once', async () => {
    await jobs.setQueueLimits('lim', { concurrency: 4 });
    const long = await jobs.createJobs(Array.from({ length: 4 }, (_, i) => ({
      jobType: 'agent', name: `long-${i}`, queue: 'lim', retryDelaySeconds: 0, payload: { agent_name: 'record', parameters: { sleepMs: 60_000 } },
    })));
    const a = spawn(['--queues', 'lim', '--max-concurrent-jobs', '8', '--lease-seconds', '5']);
    await waitFor(async () => (await db.sql`SELECT 1 FROM test_runs WHERE pid = ${a.child.pid!}`).length === 4, 'A to start the 4 long jobs');
    // B, idle with 16 free slots and a short lease (it rescues every second), is claiming: it runs
    // a job of another queue.
    const b = spawn(['--queues', 'lim,default', '--max-concurrent-jobs', '16', '--lease-seconds', '2']);
    const [probe] = await jobs.createJobs([{ jobType: 'agent', name: 'probe', payload: { agent_name: 'record', parameters: {} } }]);
    await waitFor(async () => (await jobs.getJob(probe!.id))?.location === 'history', 'B to run a job of the default queue', 20_000);
    const short = await jobs.createJobs(Array.from({ length: 12 }, (_, i) => ({
      jobType: 'agent', name: `short-${i}`, queue: 'lim', payload: { agent_name: 'record', parameters: { sleepMs: 300 } },
    })));
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    // Their second attempt is short.
    await db.sql`UPDATE taiat_jobs SET payload = '{"agent_name":"record","parameters":{"sleepMs":300}}' WHERE id = ANY(${long.map((j) => j.id)}::text[])`;
    const [lease] = await db.sql<{ expiry: Date; left: number }[]>`
      SELECT min(lease_expires_at) AS expiry, extract(epoch FROM min(lease_expires_at) - clock_timestamp())::float8 AS left
        FROM taiat_jobs WHERE queue = 'lim' AND status = 'running'`;
    const expiry = lease!.expiry;
    expect(lease!.left).toBeGreaterThan(1); // renewed every 5/3 s: at least 3.3 s left at the kill
    // While the dead worker's leases hold (until 500 ms before they expire; B polls every 0.5 s,
    // and its producer was nudged by the 12 new jobs), its jobs count: B starts none of the queue.
    await new Promise((r) => setTimeout(r, (lease!.left - 0.5) * 1000));
    const [before] = await db.sql<{ runs: number; unexpired: boolean }[]>`
      SELECT (SELECT count(*)::int FROM test_runs r JOIN taiat_all_jobs h ON h.id = r.job_id WHERE h.queue = 'lim' AND r.pid = ${b.child.pid!}) AS runs,
             clock_timestamp() < ${expiry}::timestamptz AS unexpired`;
    expect(before).toEqual({ runs: 0, unexpired: true });
    expect((await jobs.listQueues()).find((q) => q.name === 'lim')).toMatchObject({ running: 4, ready: 12, heldBack: { queueLimit: 12 } });

    await waitFor(async () => (await historyCount('lim')) === 16, 'B to run the queue after the rescue', 30_000);
    expect((await stopAll([b]))).toEqual([0]);
    const [first] = await db.sql<{ at: Date; after: boolean }[]>`
      SELECT min(r.started_at) AS at, min(r.started_at) > ${expiry}::timestamptz AS after
        FROM test_runs r JOIN taiat_all_jobs h ON h.id = r.job_id WHERE h.queue = 'lim' AND r.pid = ${b.child.pid!}`;
    const peak = (await maxOverlap('lim', false, [b.child.pid!])).get('')!;
    console.log(`kill -9: A's leases expired at ${expiry.toISOString()}, B's first start of the queue ${first!.at.toISOString()}, peak ${peak} at once`);
    expect(first!.after).toBe(true);
    expect(peak).toBe(4);
    const done = await db.sql`
      SELECT name, status, attempts, attempt_errors->0->>'error' AS error FROM taiat_job_history WHERE queue = 'lim' ORDER BY name`;
    expect(done.filter((j) => j.name.startsWith('long-'))).toEqual(long.map((_, i) => (
      { name: `long-${i}`, status: 'completed', attempts: 2, error: 'worker lost: its lease expired while the job was running' })));
    expect(done.filter((j) => j.name.startsWith('short-')).map((j) => [j.status, j.attempts])).toEqual(short.map(() => ['completed', 1]));
    const runsOfB = await db.sql`SELECT count(*)::int AS n FROM test_runs r JOIN taiat_all_jobs h ON h.id = r.job_id WHERE h.queue = 'lim' AND r.pid = ${b.child.pid!}`;
    expect(runsOfB[0]!.n).toBe(16);
  }, 60_000);

  // Fails at d2e0155: after a claim of a limited queue comes back short, nothing marks the supply
  // "maybe" when a job of that queue finishes (the finish nudges the producer with more = false,
  // and no notification says a place came free), so the next claim waits for the poll: a queue
  // limit of 4 with a backlog of 50 ms jobs ran 4 jobs every 5 s (starts at 0, 5.08, 10.14 s).
  it('a place freed under a queue limit is taken without waiting for the poll (default 5 s)', async () => {
    await jobs.setQueueLimits('prompt', { concurrency: 4 });
    await jobs.createJobs(Array.from({ length: 12 }, (_, i) => ({ jobType: 'agent', name: `prompt-${i}`, queue: 'prompt', payload: { agent_name: 'record', parameters: { sleepMs: 50 } } })));
    const w = spawnDefaultPoll(['--queues', 'prompt', '--max-concurrent-jobs', '8']);
    await waitFor(async () => (await historyCount('prompt')) > 0, 'the first jobs to finish', 20_000);
    // 3 rounds of 4 jobs of 50 ms: well under a second when each freed place is claimed at once.
    await waitFor(async () => (await historyCount('prompt')) === 12, 'all 12 jobs within 3 s of the first finishing, not at 5 s polls', 3_000);
    expect(await stopAll([w])).toEqual([0]);
    expect((await maxOverlap('prompt')).get('')!).toBeLessThanOrEqual(4);
  }, 30_000);
});

