import { describe, expect, it } from 'vitest';
import { createDatabase, useTestDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';

const db = useTestDatabase();

describe('status', () => {
  it('prints the status of a busy system as text and as a stable JSON object', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers`;
    await db.sql`INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version) VALUES ('w-alive', 'host-a', 11, '["default"]', 4, '0.1.0')`;
    await db.sql`INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version, last_heartbeat_at) VALUES ('w-lost', 'host-b', 12, '["default"]', 4, '0.1.0', now() - interval '10 minutes')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, status, lease_owner, lease_expires_at, started_at) VALUES ('run-1', 'agent', 'r', 'running', 'w-alive', now() + interval '30 seconds', now() - interval '5 seconds')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name) VALUES ('ready-1', 'agent', 'ready')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, dependencies, pending_dependencies) VALUES ('blocked-1', 'agent', 'b', '["ready-1"]', 1)`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, run_at, queue, priority) VALUES ('later-1', 'agent', 'l', now() + interval '1 hour', 'reports', 4)`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue, status, lease_owner, lease_expires_at, started_at) VALUES ('run-lost', 'agent', 'r', 'etl', 'running', 'w-lost', now() + interval '5 seconds', now() - interval '1 minute')`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, queue) VALUES ('unserved-1', 'agent', 'u', 'etl')`;
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, error_message) VALUES ('f-1', 'f-1', 'agent', 'broken', 'failed', 'kaboom'), ('c-1', 'c-1', 'agent', 'fine', 'completed', NULL)`;

    const status = await runBin('taiat-worker', ['--status', '--json'], { TAIAT_DATABASE_URL: db.url });
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(Object.keys(s)).toEqual(['generatedAt', 'pending', 'running', 'finished', 'blockedOn', 'recentFailures', 'workers', 'queues', 'oldestReadyWaitSeconds', 'schedules', 'flowControl']);
    expect(s.pending).toEqual({ ready: 2, blocked: 1, scheduled: 1, total: 4 });
    expect(s.running.total).toBe(2);
    expect(s.running.byWorker).toEqual(expect.arrayContaining([
      expect.objectContaining({ workerId: 'w-alive', jobs: 1, workerLost: false }), expect.objectContaining({ workerId: 'w-lost', jobs: 1, workerLost: true }),
    ]));
    expect(s.finished.lastHour).toEqual({ completed: 1, failed: 1, cancelled: 0 });
    expect(s.blockedOn).toEqual([{ jobId: 'ready-1', name: 'ready', status: 'pending', waiting: 1 }]);
    expect(s.recentFailures).toMatchObject([{ id: 'f-1', errorMessage: 'kaboom' }]);
    expect(s.workers.alive.map((w: { id: string }) => w.id)).toEqual(['w-alive']);
    expect(s.workers.lost.map((w: { id: string }) => w.id)).toEqual(['w-lost']);
    expect(s.workers.alive[0]).toMatchObject({ hostname: 'host-a', pid: 11, jobsInHand: 1, concurrency: 4 });
    expect(s.queues).toEqual(expect.arrayContaining([
      { queue: 'reports', priority: 4, ready: 0, blocked: 0, scheduled: 1, running: 0, servedBy: 0 },
      { queue: 'etl', priority: 2, ready: 1, blocked: 0, scheduled: 0, running: 1, servedBy: 0 },
      expect.objectContaining({ queue: 'default', ready: 1, servedBy: 1 }),
    ]));
    expect(s.flowControl).toEqual([]);

    const text = await runBin('taiat', ['status'], { TAIAT_DATABASE_URL: db.url });
    expect(text.code).toBe(0);
    for (const heading of ['Jobs', 'Running, by worker', 'Blocked on', 'Queues', 'Recent failures', 'Workers']) expect(text.stdout).toContain(`${heading}\n`);
    expect(text.stdout).toMatch(/pending\s+4\s+ready 2, blocked on dependencies 1, scheduled later 1/);
    expect(text.stdout).toMatch(/w-lost\s+1 job\(s\)\s+oldest running \S+\s+worker lost: its jobs go back when their leases expire/);
    expect(text.stdout).toMatch(/etl\s+2\s+1\s+0\s+0\s+1\s+0: no live worker serves this queue/);
    expect(text.stdout).toMatch(/lost\s+w-lost\s+host-b pid 12/);
    expect(text.stdout).not.toContain('\x1b['); // no colour when not on a terminal
    expect(text.stdout).not.toContain('Flow control');
  });

  it('counts the oldest ready wait of a released dependent from its release, not from its creation', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name, dependencies, pending_dependencies, created_at, run_at, updated_at)
                 VALUES ('released', 'agent', 'r', '["gone"]', 0, now() - interval '1 hour', now() - interval '1 hour', now() - interval '2 seconds')`;
    const s = JSON.parse((await runBin('taiat', ['status', '--json'], { TAIAT_DATABASE_URL: db.url })).stdout);
    expect(s.oldestReadyWaitSeconds).toBeGreaterThan(1);
    expect(s.oldestReadyWaitSeconds).toBeLessThan(60);
  });

  it('calls a worker lost after three of its own heartbeat intervals without one', async () => {
    await db.sql`TRUNCATE taiat_workers`;
    await db.sql`
      INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version, heartbeat_seconds, last_heartbeat_at) VALUES
        ('fast-silent', 'h', 1, '[]', 1, '0.2.0', 10, now() - interval '40 seconds'),
        ('fast-beating', 'h', 2, '[]', 1, '0.2.0', 10, now() - interval '20 seconds'),
        ('slow-beating', 'h', 3, '[]', 1, '0.2.0', 60, now() - interval '150 seconds'),
        ('old-version', 'h', 4, '[]', 1, '0.1.0', NULL, now() - interval '100 seconds')`;
    const s = JSON.parse((await runBin('taiat', ['status', '--json'], { TAIAT_DATABASE_URL: db.url })).stdout);
    expect(s.workers.alive.map((w: { id: string }) => w.id).sort()).toEqual(['fast-beating', 'slow-beating']);
    expect(s.workers.lost.map((w: { id: string }) => w.id).sort()).toEqual(['fast-silent', 'old-version']);
    expect(s.workers.alive.find((w: { id: string }) => w.id === 'slow-beating')).toMatchObject({ heartbeatSeconds: 60 });
  });

  it('lists the queues with flow control and what holds their ready jobs back', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers, taiat_queues, taiat_rate_claims CASCADE`;
    await db.sql`INSERT INTO taiat_queues (name, paused, paused_at) VALUES ('stopped', true, now() - interval '2 minutes')`;
    await db.sql`INSERT INTO taiat_queues (name, concurrency, rate_limit, rate_period_seconds) VALUES ('capped', 1, 10, 60), ('rated', NULL, 2, 60)`;
    await db.sql`INSERT INTO taiat_queues (name, key_concurrency) VALUES ('keyed', 1)`;
    await db.sql`INSERT INTO taiat_queues (name) VALUES ('plain')`; // a row without flow control: not listed
    await db.sql`INSERT INTO taiat_rate_claims (queue, claimed_at) VALUES ('rated', now()), ('rated', now())`;
    await db.sql`
      INSERT INTO taiat_jobs (id, job_type, name, queue, concurrency_key) VALUES
        ('s-1', 'agent', 'a', 'stopped', NULL), ('s-2', 'agent', 'a', 'stopped', NULL),
        ('c-2', 'agent', 'a', 'capped', NULL), ('r-1', 'agent', 'a', 'rated', NULL),
        ('k-2', 'agent', 'a', 'keyed', 'tenant-1'), ('k-3', 'agent', 'a', 'keyed', 'tenant-2'),
        ('p-1', 'agent', 'a', 'plain', NULL), ('d-1', 'agent', 'a', 'default', NULL)`;
    await db.sql`
      INSERT INTO taiat_jobs (id, job_type, name, queue, concurrency_key, status, lease_owner, lease_expires_at, started_at) VALUES
        ('c-1', 'agent', 'a', 'capped', NULL, 'running', 'w', now() + interval '30 seconds', now()),
        ('k-1', 'agent', 'a', 'keyed', 'tenant-1', 'running', 'w', now() + interval '30 seconds', now())`;

    const s = JSON.parse((await runBin('taiat', ['status', '--json'], { TAIAT_DATABASE_URL: db.url })).stdout);
    const none = { paused: 0, queueLimit: 0, rateLimit: 0, keyLimit: 0 };
    expect(s.flowControl).toEqual([
      { queue: 'capped', paused: false, pausedAt: null, concurrency: 1, keyConcurrency: null, rateLimit: { limit: 10, periodSeconds: 60 }, keyRateLimit: null,
        keysWithLimits: 0, ready: 1, running: 1, recentClaims: 0, heldBack: { ...none, queueLimit: 1 } },
      { queue: 'keyed', paused: false, pausedAt: null, concurrency: null, keyConcurrency: 1, rateLimit: null, keyRateLimit: null,
        keysWithLimits: 0, ready: 2, running: 1, recentClaims: 0, heldBack: { ...none, keyLimit: 1 } },
      { queue: 'rated', paused: false, pausedAt: null, concurrency: null, keyConcurrency: null, rateLimit: { limit: 2, periodSeconds: 60 }, keyRateLimit: null,
        keysWithLimits: 0, ready: 1, running: 0, recentClaims: 2, heldBack: { ...none, rateLimit: 1 } },
      { queue: 'stopped', paused: true, pausedAt: expect.any(String), concurrency: null, keyConcurrency: null, rateLimit: null, keyRateLimit: null,
        keysWithLimits: 0, ready: 2, running: 0, recentClaims: 0, heldBack: { ...none, paused: 2 } },
    ]);

    const text = (await runBin('taiat-worker', ['--status'], { TAIAT_DATABASE_URL: db.url })).stdout;
    const section = text.slice(text.indexOf('Flow control\n'));
    expect(section.split('\n').slice(0, 6)).toEqual([
      'Flow control',
      expect.stringMatching(/^  queue\s+state\s+limits\s+ready\s+running\s+held back$/),
      expect.stringMatching(/^  capped\s+active\s+concurrency 1, rate 10\/1m\s+1\s+1\s+queue limit 1$/),
      expect.stringMatching(/^  keyed\s+active\s+key concurrency 1\s+2\s+1\s+key limit 1$/),
      expect.stringMatching(/^  rated\s+active\s+rate 2\/1m\s+1\s+0\s+rate limit 1$/),
      expect.stringMatching(/^  stopped\s+paused 2m\d+s ago\s+-\s+2\s+0\s+paused 2$/),
    ]);
  });

  it('fails clearly on an unmigrated database and hides the password of an unreachable one', async () => {
    const empty = await createDatabase({ migrated: false });
    try {
      const r = await runBin('taiat-worker', ['--status'], { TAIAT_DATABASE_URL: empty.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error \[TAIAT_SCHEMA_NOT_CURRENT\]: the taiat schema is not current in schema public \(missing: migration 000001.sql/);
    } finally {
      await empty.drop();
    }
    const down = await runBin('taiat-worker', ['--status', '--database-url', 'postgres://u:topsecret@127.0.0.1:1/x']);
    expect(down.code).toBe(1);
    expect(down.stderr + down.stdout).not.toContain('topsecret');
  });
});
