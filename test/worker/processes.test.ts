import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobManager, type JsonObject } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';
import { spawnWorker, TEST_RUNS_TABLE, type WorkerProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const db = useTestDatabase();
let jobs: JobManager;
const children: WorkerProcess[] = [];

beforeAll(async () => {
  await db.sql.unsafe(TEST_RUNS_TABLE);
  jobs = await JobManager.connect({ databaseUrl: db.url });
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
  await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers, test_runs`;
});
afterAll(async () => {
  await jobs.close();
});

const spawn = (args: string[] = []) => {
  const w = spawnWorker(db.url, args);
  children.push(w);
  return w;
};
const record = (n: number, extra: JsonObject = {}) =>
  Array.from({ length: n }, (_, i) => ({ jobType: 'agent', name: `r${i}`, payload: { agent_name: 'record', parameters: extra } }));

describe('worker processes', () => {
  it('three processes never run the same job twice and together run every job once', async () => {
    const created = await jobs.createJobs(record(3000));
    const workers = [spawn(['--max-concurrent-jobs', '8']), spawn(['--max-concurrent-jobs', '8']), spawn(['--max-concurrent-jobs', '8'])];
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_job_history`)[0]!.n === 3000, 'all jobs in history', 60_000);
    for (const w of workers) w.child.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    const [runs] = await db.sql`SELECT count(*)::int AS runs, count(DISTINCT job_id)::int AS jobs, count(DISTINCT pid)::int AS pids, count(*) FILTER (WHERE ended_at IS NULL)::int AS open FROM test_runs`;
    expect(runs).toEqual({ runs: 3000, jobs: 3000, pids: 3, open: 0 });
    const [hist] = await db.sql`SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'completed' AND attempts = 1)::int AS ok FROM taiat_job_history`;
    expect(hist).toEqual({ n: 3000, ok: 3000 });
    expect(new Set(created.map((j) => j.id)).size).toBe(3000);
  }, 90_000);

  it('kill -9 of a worker mid-job: another takes the job back as a new attempt and completes it', async () => {
    const [job] = await jobs.createJobs([{ jobType: 'agent', name: 'long', payload: { agent_name: 'record', parameters: { sleepMs: 60_000 } }, retryDelaySeconds: 0 }]);
    const victim = spawn(['--lease-seconds', '30']);
    await waitFor(async () => (await db.sql`SELECT 1 FROM test_runs WHERE job_id = ${job!.id}`).length === 1, 'the job to start');
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    // The lease would expire in 30 s; backdate it rather than wait.
    await db.sql`UPDATE taiat_jobs SET lease_expires_at = now() - interval '1 second', payload = '{"agent_name":"record","parameters":{}}' WHERE id = ${job!.id}`;
    spawn(['--lease-seconds', '2']);
    const done = await waitFor(async () => {
      const j = await jobs.getJob(job!.id);
      return j?.location === 'history' ? j : null;
    }, 'the job to be recovered', 30_000);
    expect(done).toMatchObject({ status: 'completed', attempts: 2, retryCount: 1 });
    expect(done.attemptErrors.map((e) => e.error)).toEqual(['worker lost: its lease expired while the job was running']);
    const runs = await db.sql`SELECT attempt, ended_at IS NOT NULL AS ended FROM test_runs WHERE job_id = ${job!.id} ORDER BY id`;
    expect(runs).toEqual([{ attempt: 1, ended: false }, { attempt: 2, ended: true }]);
  }, 60_000);

  it('SIGTERM lets a running job finish, then exits 0', async () => {
    const [job] = await jobs.createJobs(record(1, { sleepMs: 800 }));
    const w = spawn(['--shutdown-timeout', '10']);
    await waitFor(async () => (await db.sql`SELECT 1 FROM test_runs WHERE job_id = ${job!.id}`).length === 1, 'the job to start');
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect(await jobs.getJob(job!.id)).toMatchObject({ status: 'completed', attempts: 1 });
    const [worker] = await db.sql`SELECT stopped_at IS NOT NULL AS stopped FROM taiat_workers`;
    expect(worker).toEqual({ stopped: true });
  }, 30_000);

  it('SIGTERM past the shutdown timeout aborts the job and returns it to pending without counting the attempt', async () => {
    const [job] = await jobs.createJobs([{ jobType: 'agent', name: 'hang', payload: { agent_name: 'hang' } }]);
    const w = spawn(['--shutdown-timeout', '0.3']);
    await waitFor(async () => (await db.sql`SELECT 1 FROM test_runs WHERE job_id = ${job!.id}`).length === 1, 'the job to start');
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect(await jobs.getJob(job!.id)).toMatchObject({ status: 'pending', attempts: 0, retryCount: 0, workerId: null });
  }, 30_000);

  it('--once runs until no ready job is left, dependents included, then exits 0', async () => {
    await jobs.createJobs([
      ...record(47),
      { id: 'once-1', jobType: 'agent', name: 'c1', payload: { agent_name: 'record' } },
      { id: 'once-2', jobType: 'agent', name: 'c2', payload: { agent_name: 'record' }, dependencies: ['once-1'] },
      { id: 'once-3', jobType: 'agent', name: 'c3', payload: { agent_name: 'record' }, dependencies: ['once-2'] },
    ]);
    const result = await runBin('taiat-worker', ['--once', '--agents', 'test/fixtures/recording-agents.mjs', '--log-level', 'warn'], { TAIAT_DATABASE_URL: db.url });
    expect(result.code).toBe(0);
    const [row] = await db.sql`SELECT count(*)::int AS n FROM taiat_job_history WHERE status = 'completed'`;
    expect(row!.n).toBe(50);
  }, 30_000);

  it('stops start-up with a clear message when an agents module fails to load, or the config is bad', async () => {
    const broken = await runBin('taiat-worker', ['--agents', 'test/fixtures/broken-agents.mjs'], { TAIAT_DATABASE_URL: db.url });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('error [TAIAT_MODULE_LOAD_FAILED]: cannot load agents module test/fixtures/broken-agents.mjs: this module is broken on purpose');
    const missing = await runBin('taiat-worker', ['--agents', './nope.js'], { TAIAT_DATABASE_URL: db.url });
    expect(missing.stderr).toMatch(/error \[TAIAT_MODULE_LOAD_FAILED\]: cannot load agents module \.\/nope\.js: Cannot find module/);
    const config = await runBin('taiat-worker', [], { TAIAT_DATABASE_URL: db.url, TAIAT_AGENT_CONFIG: '{"modules": "x"}' });
    expect(config.stderr).toContain('error [TAIAT_CONFIG_INVALID]: TAIAT_AGENT_CONFIG.modules: modules must be an array of module paths');
    const nothing = await runBin('taiat-worker', ['--once'], { TAIAT_DATABASE_URL: db.url });
    expect(nothing).toMatchObject({ code: 1, stderr: 'error [TAIAT_CONFIG_INVALID]: agents: no agents or executors: name a module with --agents, or set TAIAT_AGENT_CONFIG\n' });
    const viaEnv = await runBin('taiat-worker', ['--once'], { TAIAT_DATABASE_URL: db.url, TAIAT_AGENT_CONFIG: '{"modules": ["test/fixtures/recording-agents.mjs"]}' });
    expect(viaEnv.code).toBe(0);
  }, 30_000);
});
