import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseUnavailableError, JobManager, type Job } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { spawnWorker, TEST_RUNS_TABLE, type WorkerProcess } from '../support/processes.js';
import { startResetProxy, type ResetProxy } from '../support/reset-proxy.js';
import { waitFor } from '../support/wait.js';

// postgres.js runs a type query first on each new connection and drops that query's promise: a
// connection reset during it (Postgres crashing, a restart) was an unhandled rejection, and the
// soak saw a worker die of it. These tests cut connections at that moment through a proxy.

const db = useTestDatabase();
let proxy: ResetProxy;
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
  await proxy?.close();
  await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers, test_runs`;
});
afterAll(async () => {
  await jobs.close();
});

const record = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ jobType: 'agent', name: `r${i}`, payload: { agent_name: 'record', parameters: {} } }));
const finished = async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_job_history WHERE status = 'completed'`)[0]!.n;

/** The worker goes through the proxy; its agents record runs over a connection of their own. */
const spawnBehindProxy = (...args: string[]) => {
  const w = spawnWorker(db.url, ['--database-url', proxy.url, '--max-concurrent-jobs', '4', ...args]);
  children.push(w);
  return w;
};

describe('connections reset under the driver', () => {
  it('a worker whose connections are all reset carries on, and reconnects without fetching types again', async () => {
    proxy = await startResetProxy(db.url);
    const worker = spawnBehindProxy();
    await jobs.createJobs(record(20));
    await waitFor(async () => (await finished()) === 20, 'the first 20 jobs done', 30_000);
    const fetched = proxy.typeFetches();
    expect(fetched).toBeGreaterThan(0);

    proxy.cutTypeFetches(true);
    proxy.resetAll();
    await jobs.createJobs(record(20));
    await waitFor(async () => (await finished()) === 40, 'the next 20 jobs done after the reset', 30_000).catch((error: Error) => {
      error.message += `\nworker output:\n${worker.output().slice(-3000)}`;
      throw error;
    });
    expect(worker.child.exitCode).toBeNull();
    expect(proxy.typeFetches()).toBe(fetched);
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  }, 90_000);

  it('a worker starting while every type fetch is cut stops with a clear error, not a crash', async () => {
    proxy = await startResetProxy(db.url);
    proxy.cutTypeFetches(true);
    const worker = spawnBehindProxy('--startup-timeout', '2');
    const exit = await worker.exited;
    expect(proxy.typeFetches()).toBeGreaterThan(0);
    expect(exit.code).toBe(1);
    expect(worker.output()).toMatch(/error \[TAIAT_DATABASE_UNAVAILABLE\]: cannot reach the database/);
    expect(worker.output()).not.toMatch(/triggerUncaughtException/);
  }, 60_000);

  it('a worker starting while the database cannot be reached waits for it, then runs jobs', async () => {
    proxy = await startResetProxy(db.url);
    proxy.cutTypeFetches(true);
    const worker = spawnBehindProxy('--startup-timeout', '60');
    await waitFor(() => /database unreachable at start-up; trying again/.test(worker.output()), 'a retry at start-up', 20_000);
    proxy.cutTypeFetches(false);
    await waitFor(() => /worker started/.test(worker.output()), 'the worker to start', 30_000);
    // Says what it runs and where, the URL redacted, and its id on the daemon's own lines too.
    const started = JSON.parse(worker.output().split('\n').find((l) => l.includes('"worker started"'))!);
    expect(started).toMatchObject({ version: expect.any(String), workerId: expect.any(String), database: expect.stringContaining('127.0.0.1') });
    const password = new URL(db.url).password;
    if (password) expect(started.database).not.toContain(password);
    await jobs.createJobs(record(3));
    await waitFor(async () => (await finished()) === 3, 'the jobs done', 30_000);
    expect(worker.child.exitCode).toBeNull();
  }, 90_000);

  it('the start-up timeout is a deadline, and a refused login is not retried', async () => {
    // A port nothing listens on: refused at once, every time (the first version kept a retried
    // listen waiting on the driver's own back-off, and gave up after 70 s, not 2).
    const closed = new URL(db.url);
    closed.port = '1';
    const started = Date.now();
    const refused = spawnWorker(db.url, ['--database-url', closed.toString(), '--startup-timeout', '2']);
    children.push(refused);
    expect((await refused.exited).code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(refused.output()).toMatch(/database unreachable at start-up; trying again/);
    // The driver's reason once: the error quotes it, and pino used to append its cause again.
    const retry = refused.output().split('\n').find((line) => line.includes('trying again'))!;
    expect((JSON.parse(retry) as { err: { message: string } }).err.message.match(/ECONNREFUSED/g)).toHaveLength(1);

    // A server that accepts and closes at once: the driver reconnects in a loop, its statement
    // never failing; each try's own deadline ends it (it ran past 60 s with --startup-timeout 3).
    const closer = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', r));
    const closing = new URL(db.url);
    closing.port = String((closer.address() as net.AddressInfo).port);
    const startedClosing = Date.now();
    const hung = spawnWorker(db.url, ['--database-url', closing.toString(), '--startup-timeout', '3']);
    children.push(hung);
    expect((await hung.exited).code).toBe(1);
    closer.close();
    expect(Date.now() - startedClosing).toBeLessThan(20_000);

    const wrong = new URL(db.url);
    wrong.password = 'not-the-password';
    const denied = spawnWorker(db.url, ['--database-url', wrong.toString(), '--startup-timeout', '60']);
    children.push(denied);
    expect((await denied.exited).code).toBe(1);
    expect(denied.output()).not.toMatch(/trying again/);
    expect(denied.output()).not.toContain('not-the-password');
  }, 60_000);

  it('a JobManager whose connections are reset works on the next call, without fetching types again', async () => {
    proxy = await startResetProxy(db.url);
    const manager = await JobManager.connect({ databaseUrl: proxy.url });
    try {
      await manager.createJob({ jobType: 'agent', name: 'before', payload: { agent_name: 'record' } });
      const fetched = proxy.typeFetches();
      expect(fetched).toBeGreaterThan(0);
      proxy.cutTypeFetches(true);
      proxy.resetAll();
      // Calls may meet the reset connections (the pool holds two); later ones reconnect.
      let created: Job | undefined;
      for (let attempt = 0; !created && attempt < 5; attempt++) {
        created = await manager.createJob({ jobType: 'agent', name: 'after', payload: { agent_name: 'record' } }).catch((error: unknown) => {
          expect(error).toBeInstanceOf(DatabaseUnavailableError);
          return undefined;
        });
      }
      expect(created?.name).toBe('after');
      expect((await manager.listJobs()).map((j) => j.name).sort()).toEqual(['after', 'before']);
      expect(proxy.typeFetches()).toBe(fetched);
    } finally {
      await manager.close();
    }
  }, 30_000);
});
