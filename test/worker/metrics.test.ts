import postgres from 'postgres';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { createWorkerMetrics, serveMetrics, Worker } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { spawnWorker, TEST_RUNS_TABLE } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const db = useTestDatabase();

describe('metrics', () => {
  const children: ReturnType<typeof spawnWorker>[] = [];
  afterAll(async () => {
    for (const c of children) {
      c.child.kill('SIGKILL');
      await c.exited;
    }
  });

  it('serves Prometheus metrics and a health check', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers`;
    await db.sql.unsafe(TEST_RUNS_TABLE);
    const w = spawnWorker(db.url, ['--metrics-port', '0']);
    children.push(w);
    const port = await waitFor(() => /"port":(\d+),"msg":"serving \/metrics/.exec(w.output())?.[1], 'the metrics server');
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, payload) VALUES ('m-1', 'agent', 'm', '{"agent_name":"record"}'), ('m-2', 'agent', 'm', '{"agent_name":"ghost"}')`;
    await db.sql`SELECT pg_notify('taiat_jobs_ready', 'default')`;
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_job_history`)[0]!.n === 2, 'both jobs');
    const text = await waitFor(async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return body.includes('taiat_jobs_failed_total{queue="default",job_type="agent"} 1') ? body : null;
    }, 'the failure to be counted');
    const metric = (line: string) => Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').pop());
    expect(metric('taiat_jobs_claimed_total{queue="default",job_type="agent"}')).toBe(2);
    expect(metric('taiat_jobs_completed_total{queue="default",job_type="agent"}')).toBe(1);
    expect(metric('taiat_job_run_duration_seconds_count{queue="default",job_type="agent"}')).toBe(2);
    expect(metric('taiat_worker_free_slots')).toBe(4);
    expect(metric('taiat_queue_scrape_ok')).toBe(1);
    expect(text).toMatch(/# TYPE taiat_job_wait_seconds histogram/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(text).not.toMatch(/postgres:\/\//);
    // Gone before the next test, which counts the workers and the ready jobs of its own.
    w.child.kill('SIGKILL');
    await w.exited;
  }, 30_000);

  it('reads the queue gauges and flow control at scrape time, fresh on the first scrape', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers, taiat_queues, taiat_rate_claims CASCADE`;
    await db.sql`INSERT INTO taiat_queues (name, paused) VALUES ('stopped', true)`;
    await db.sql`INSERT INTO taiat_queues (name, concurrency) VALUES ('capped', 1)`;
    await db.sql`
      INSERT INTO taiat_jobs (id, job_type, name, queue) VALUES
        ('s-1', 'agent', 'a', 'stopped'), ('s-2', 'agent', 'a', 'stopped'), ('c-2', 'agent', 'a', 'capped'), ('d-1', 'agent', 'a', 'default')`;
    await db.sql`
      INSERT INTO taiat_jobs (id, job_type, name, queue, status, lease_owner, lease_expires_at, started_at)
      VALUES ('c-1', 'agent', 'a', 'capped', 'running', 'w', now() + interval '30 seconds', now())`;
    // Ready for two minutes; a retry in its backoff; a live, a lost and a stopped worker.
    await db.sql`UPDATE taiat_jobs SET run_at = now() - interval '120 seconds', created_at = now() - interval '120 seconds', updated_at = now() - interval '120 seconds' WHERE id = 'd-1'`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue, run_at) VALUES ('d-2', 'agent', 'a', 'default', now() + interval '1 hour')`;
    await db.sql`
      INSERT INTO taiat_workers (id, hostname, pid, concurrency, version, heartbeat_seconds, last_heartbeat_at, stopped_at) VALUES
        ('live', 'h', 1, 4, 'x', 10, now(), NULL), ('lost', 'h', 2, 4, 'x', 10, now() - interval '31 seconds', NULL),
        ('stopped', 'h', 3, 4, 'x', 10, now() - interval '1 hour', now() - interval '1 hour')`;
    const worker = new Worker({ agents: { noop: async () => null } });
    // As a worker's pool is through pgbouncer (CI's pooling pass): unprepared, several connections.
    const sql = postgres(db.url, { max: 10, prepare: false, onnotice: () => {} });
    onTestFinished(() => sql.end());
    const registry = createWorkerMetrics(worker, sql, 4);
    const metric = (text: string, line: string) => text.split('\n').find((l) => l.startsWith(`${line} `))?.split(' ').pop();

    const first = await registry.metrics();
    expect(metric(first, 'taiat_jobs_ready{queue="stopped"}')).toBe('2');
    expect(metric(first, 'taiat_queue_paused{queue="stopped"}')).toBe('1');
    expect(metric(first, 'taiat_queue_paused{queue="capped"}')).toBe('0');
    expect(metric(first, 'taiat_queue_paused{queue="default"}')).toBe('0');
    expect(metric(first, 'taiat_jobs_held_back{queue="stopped",reason="paused"}')).toBe('2');
    expect(metric(first, 'taiat_jobs_held_back{queue="stopped",reason="queue_limit"}')).toBe('0');
    expect(metric(first, 'taiat_jobs_held_back{queue="capped",reason="queue_limit"}')).toBe('1');
    expect(metric(first, 'taiat_jobs_held_back{queue="capped",reason="rate_limit"}')).toBe('0');
    expect(first).not.toContain('taiat_jobs_held_back{queue="default"');
    expect(metric(first, 'taiat_jobs_scheduled{queue="default"}')).toBe('1');
    expect(Number(metric(first, 'taiat_queue_oldest_ready_wait_seconds{queue="default"}'))).toBeGreaterThanOrEqual(120);
    expect(Number(metric(first, 'taiat_queue_oldest_ready_wait_seconds{queue="default"}'))).toBeLessThan(150);
    expect(Number(metric(first, 'taiat_queue_oldest_ready_wait_seconds{queue="stopped"}'))).toBeLessThan(60);
    expect(metric(first, 'taiat_queue_oldest_ready_wait_seconds{queue="capped"}')).not.toBeUndefined();
    expect([metric(first, 'taiat_workers_live'), metric(first, 'taiat_workers_lost')]).toEqual(['1', '1']);
    expect(metric(first, 'taiat_worker_slots')).toBe('4');
    expect(metric(first, 'taiat_queue_scrape_ok')).toBe('1');

    await db.sql`UPDATE taiat_queues SET paused = false WHERE name = 'stopped'`;
    await db.sql`DELETE FROM taiat_jobs WHERE id = 'd-1'`;
    const second = await registry.metrics();
    expect(metric(second, 'taiat_queue_paused{queue="stopped"}')).toBe('0');
    expect(second).not.toContain('taiat_jobs_held_back{queue="stopped"');
    // A queue with live jobs and none ready waits 0 (its series stays).
    expect(metric(second, 'taiat_queue_oldest_ready_wait_seconds{queue="default"}')).toBe('0');

    // A failed read is reported, and scraping goes on.
    const dead = postgres('postgres://u:p@127.0.0.1:1/x', { max: 1, connect_timeout: 1, onnotice: () => {} });
    try {
      const failing = await createWorkerMetrics(worker, dead, 4).metrics();
      expect(metric(failing, 'taiat_queue_scrape_ok')).toBe('0');
      expect(metric(failing, 'taiat_worker_free_slots')).toBe('4');
      // Gauges without labels start at 0: read them together with taiat_queue_scrape_ok.
      expect(metric(failing, 'taiat_workers_live')).toBe('0');
    } finally {
      await dead.end();
    }
  });

  it('answers 503 on /healthz when the database cannot be reached', async () => {
    const dead = postgres('postgres://u:p@127.0.0.1:1/x', { max: 1, connect_timeout: 1, onnotice: () => {} });
    const server = await serveMetrics(new Registry(), dead, 0, '127.0.0.1');
    try {
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect([health.status, await health.text()]).toEqual([503, 'database unreachable\n']);
    } finally {
      await server.close();
      await dead.end();
    }
  });
});
