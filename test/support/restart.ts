import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { expect } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { JobManager, runMigrations } from '../../src/index.js';
import { spawnWorker, TEST_RUNS_TABLE, type WorkerProcess } from './processes.js';
import { waitFor } from './wait.js';

/**
 * A `taiat-worker` process (`workerBin`) runs 600 jobs while its Postgres restarts twice, fast
 * and immediate (like a crash): nothing is lost, nothing runs twice at once, the worker lives
 * on. On a server of its own: restarting the shared one would disturb the other test files.
 */
export async function survivesPostgresRestarts(workerBin: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-restart-'));
  const server = await startEmbeddedPostgres({ dir, database: 'restart', settings: { fsync: 'off' } });
  let sql: postgres.Sql | undefined;
  let worker: WorkerProcess | undefined;
  try {
    await runMigrations(server.url);
    sql = postgres(server.url, { max: 2, onnotice: () => {} });
    await sql.unsafe(TEST_RUNS_TABLE);
    const db = sql;
    const completed = async () => (await db`SELECT count(*)::int AS n FROM taiat_job_history`)[0]!.n;
    const jobs = await JobManager.connect({ databaseUrl: server.url });
    await jobs.createJobs(Array.from({ length: 600 }, (_, i) => ({
      jobType: 'agent', name: `j${i}`, payload: { agent_name: 'record', parameters: { sleepMs: 10 } }, retryDelaySeconds: 0.2, maxRetries: 10,
    })));
    await jobs.close();
    const running = spawnWorker(server.url, ['--max-concurrent-jobs', '8', '--lease-seconds', '5'], workerBin);
    worker = running;

    await waitFor(async () => (await completed()) >= 100, '100 jobs done', 30_000);
    await server.restart('fast');
    await waitFor(async () => (await completed().catch(() => 0)) >= 300, '300 jobs done after a fast restart', 60_000);
    await server.restart('immediate');
    await waitFor(async () => (await completed().catch(() => 0)) === 600, 'all jobs done after an immediate restart', 90_000).catch(async (error: Error) => {
      const live = await db`SELECT status, lease_owner, lease_expires_at, run_at, retry_count, attempts FROM taiat_jobs LIMIT 5`;
      // What the server saw of the worker's connections (a CI run once had them time out for 90 s).
      const backends = await db`SELECT pid, application_name, state, wait_event_type, wait_event, backend_start, left(query, 80) AS query
        FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`;
      error.message += `\nlive jobs: ${JSON.stringify(live)}\nbackends: ${JSON.stringify(backends)}\nworker output:\n${running.output().slice(-12000)}`;
      throw error;
    });

    expect(running.child.exitCode).toBeNull(); // still running: it logged, retried and resumed
    expect(running.output()).toMatch(/database unreachable; retrying/);
    const [state] = await db`
      SELECT (SELECT count(*)::int FROM taiat_jobs) AS live,
             (SELECT count(*)::int FROM taiat_job_history WHERE status = 'completed') AS completed`;
    expect(state).toEqual({ live: 0, completed: 600 });
    // The same attempt of a job never ran twice, and every recorded attempt is counted in history.
    const [dupes] = await db`SELECT count(*)::int AS n FROM (SELECT job_id, attempt FROM test_runs GROUP BY 1, 2 HAVING count(*) > 1) d`;
    expect(dupes!.n).toBe(0);
    const [uncounted] = await db`
      SELECT count(*)::int AS n FROM test_runs r JOIN taiat_job_history h ON h.job_id = r.job_id WHERE r.attempt > h.attempts`;
    expect(uncounted!.n).toBe(0);
    const [ran] = await db`SELECT count(DISTINCT job_id)::int AS n FROM test_runs WHERE ended_at IS NOT NULL`;
    expect(ran!.n).toBe(600);

    running.child.kill('SIGTERM');
    expect((await running.exited).code).toBe(0);
  } finally {
    if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await sql?.end({ timeout: 1 });
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
