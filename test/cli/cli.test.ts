import { writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { serveMetrics } from '../../src/index.js';
import { createDatabase, useTestDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';
import { spawnWorker, TEST_RUNS_TABLE } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const db = useTestDatabase();
const taiat = (...args: string[]) => runBin('taiat', args, { TAIAT_DATABASE_URL: db.url });
const json = async (...args: string[]) => {
  const r = await taiat(...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown> & Record<string, unknown>[];
};

describe('taiat job commands', () => {
  it('creates, lists, gets, explains, cancels and retries, as text and JSON', async () => {
    const a = await json('job', 'create', '--type', 'agent', '--name', 'extract', '--payload', '{"agent_name":"x","parameters":{"n":1}}', '--id', 'cli-a', '--priority', 'high');
    expect(a).toMatchObject({ id: 'cli-a', name: 'extract', priority: 3, status: 'pending', payload: { agent_name: 'x', parameters: { n: 1 } } });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-cli-'));
    await writeFile(path.join(dir, 'payload.json'), '{"agent_name":"y"}');
    const created = await taiat('job', 'create', '--type', 'agent', '--name', 'load', '--payload', `@${path.join(dir, 'payload.json')}`, '--dependencies', 'cli-a', '--id', 'cli-b', '--max-retries', '0');
    expect(created).toMatchObject({ code: 0, stdout: 'created cli-b\n' });

    const list = await taiat('job', 'list', '--limit', '5');
    expect(list.stdout.split('\n')[0]).toMatch(/^id\s+name\s+type\s+status\s+queue\s+priority\s+attempts\s+created$/);
    expect(list.stdout).toMatch(/cli-b\s+load\s+agent\s+pending/);
    expect((await json('job', 'list', '--ready-only')).map((j) => j.id)).toEqual(['cli-a']);

    expect(await json('job', 'get', 'cli-b')).toMatchObject({ id: 'cli-b', dependencies: ['cli-a'], maxRetries: 0 });
    const explained = await taiat('job', 'explain', 'cli-b');
    expect(explained.stdout).toContain('cli-b (load): blocked on 1 unfinished dependency: cli-a (extract, ready)');
    expect(await json('job', 'explain', 'cli-b')).toMatchObject({ state: 'blocked', rootCauses: [{ id: 'cli-a', state: 'ready' }] });

    expect((await taiat('job', 'cancel', 'cli-a')).stdout).toBe('cancelled cli-a\n');
    const history = await json('history', '--status', 'cancelled');
    expect(history.map((h) => [h.id, h.errorMessage])).toEqual(expect.arrayContaining([['cli-a', 'cancelled by request'], ['cli-b', 'dependency cli-a (extract) was cancelled']]));
    expect((await taiat('job', 'retry', 'cli-a', '--dependents')).stdout).toBe('cli-a is pending again\n');
    expect(await json('job', 'get', 'cli-b')).toMatchObject({ status: 'pending', location: 'live' });
  });

  it('creates a graph from a file, all or nothing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-cli-'));
    const file = path.join(dir, 'graph.json');
    await writeFile(file, JSON.stringify([{ id: 'g1', jobType: 'x', name: 'one' }, { id: 'g2', jobType: 'x', name: 'two', dependencies: ['g1'] }]));
    expect(await json('job', 'create-many', file)).toEqual(['g1', 'g2']);
    await writeFile(file, JSON.stringify([{ id: 'g3', jobType: 'x', name: 'three' }, { id: 'g4', jobType: 'x', name: 'four', dependencies: ['nope'] }]));
    const bad = await taiat('job', 'create-many', file);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error [TAIAT_DEPENDENCY_UNKNOWN]: unknown dependency id(s): nope; needed by g4\n');
    expect(await json('job', 'get', 'g1')).toMatchObject({ id: 'g1' });
    expect((await taiat('job', 'get', 'g3')).stderr).toBe('error [TAIAT_JOB_NOT_FOUND]: job g3 does not exist\n');
  });

  it('reports bad input with the error code on stderr and a non-zero exit', async () => {
    const r = await taiat('job', 'create', '--type', 'agent', '--name', 'x');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('error [TAIAT_INVALID_INPUT]: payload.agent_name: an agent job needs payload.agent_name (a non-empty string)\n');
    const p = await taiat('job', 'create', '--type', 'q', '--name', 'x', '--payload', '{oops');
    expect(p.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]: payload: is not valid JSON/);
    const usage = await taiat('job', 'frobnicate');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]/);
    const finished = await taiat('job', 'cancel', 'g1');
    expect(finished.code).toBe(0);
    const again = await taiat('job', 'cancel', 'g1');
    expect(again.stderr).toBe('error [TAIAT_INVALID_STATE]: job g1 already finished (cancelled); only pending or running jobs can be cancelled\n');
  });

  it('prunes history and shows an example in every --help', async () => {
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at) VALUES ('old', 'old', 'x', 'old', 'completed', now() - interval '40 days')`;
    expect(await json('prune', '--days', '30')).toEqual({ deleted: 1 });
    for (const command of [['init'], ['demo'], ['job', 'create'], ['job', 'create-many'], ['job', 'list'], ['job', 'get'], ['job', 'explain'], ['job', 'cancel'], ['job', 'retry'], ['history'], ['prune'], ['status']]) {
      const help = await runBin('taiat', [...command, '--help']);
      expect(help.stdout, command.join(' ')).toContain('Examples:');
    }
  }, 60_000);
});

describe('status', () => {
  it('prints the status of a busy system as text and as a stable JSON object', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers`;
    await db.sql`INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version) VALUES ('w-alive', 'host-a', 11, '["default"]', 4, '0.1.0')`;
    await db.sql`INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version, last_heartbeat_at) VALUES ('w-lost', 'host-b', 12, '["default"]', 4, '0.1.0', now() - interval '10 minutes')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, status, lease_owner, lease_expires_at, started_at) VALUES ('run-1', 'agent', 'r', 'running', 'w-alive', now() + interval '30 seconds', now() - interval '5 seconds')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name) VALUES ('ready-1', 'agent', 'ready')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, dependencies, pending_dependencies) VALUES ('blocked-1', 'agent', 'b', '["ready-1"]', 1)`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, run_at, queue, priority) VALUES ('later-1', 'agent', 'l', now() + interval '1 hour', 'reports', 4)`;
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, error_message) VALUES ('f-1', 'f-1', 'agent', 'broken', 'failed', 'kaboom'), ('c-1', 'c-1', 'agent', 'fine', 'completed', NULL)`;

    const status = await runBin('taiat-worker', ['--status', '--json'], { TAIAT_DATABASE_URL: db.url });
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(Object.keys(s)).toEqual(['generatedAt', 'pending', 'running', 'finished', 'blockedOn', 'recentFailures', 'workers', 'queues', 'oldestReadyWaitSeconds']);
    expect(s.pending).toEqual({ ready: 1, blocked: 1, scheduled: 1, total: 3 });
    expect(s.running).toMatchObject({ total: 1, byWorker: [{ workerId: 'w-alive', jobs: 1 }] });
    expect(s.finished.lastHour).toEqual({ completed: 1, failed: 1, cancelled: 0 });
    expect(s.blockedOn).toEqual([{ jobId: 'ready-1', name: 'ready', status: 'pending', waiting: 1 }]);
    expect(s.recentFailures).toMatchObject([{ id: 'f-1', errorMessage: 'kaboom' }]);
    expect(s.workers.alive.map((w: { id: string }) => w.id)).toEqual(['w-alive']);
    expect(s.workers.lost.map((w: { id: string }) => w.id)).toEqual(['w-lost']);
    expect(s.workers.alive[0]).toMatchObject({ hostname: 'host-a', pid: 11, jobsInHand: 1, concurrency: 4 });
    expect(s.queues).toEqual(expect.arrayContaining([{ queue: 'reports', priority: 4, ready: 0, blocked: 0, scheduled: 1, running: 0 }]));

    const text = await runBin('taiat', ['status'], { TAIAT_DATABASE_URL: db.url });
    expect(text.code).toBe(0);
    for (const heading of ['Jobs', 'Running, by worker', 'Blocked on', 'Queues', 'Recent failures', 'Workers']) expect(text.stdout).toContain(`${heading}\n`);
    expect(text.stdout).toMatch(/pending\s+3\s+ready 1, blocked on dependencies 1, scheduled later 1/);
    expect(text.stdout).toMatch(/lost\s+w-lost\s+host-b pid 12/);
    expect(text.stdout).not.toContain('\x1b['); // no colour when not on a terminal
  });

  it('fails clearly on an unmigrated database and hides the password of an unreachable one', async () => {
    const empty = await createDatabase({ migrated: false });
    try {
      const r = await runBin('taiat-worker', ['--status'], { TAIAT_DATABASE_URL: empty.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error \[TAIAT_SCHEMA_NOT_CURRENT\]: the taiat schema is not current \(missing: migration 000001.sql/);
    } finally {
      await empty.drop();
    }
    const down = await runBin('taiat-worker', ['--status', '--database-url', 'postgres://u:topsecret@127.0.0.1:1/x']);
    expect(down.code).toBe(1);
    expect(down.stderr + down.stdout).not.toContain('topsecret');
  });
});

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
  }, 30_000);

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
