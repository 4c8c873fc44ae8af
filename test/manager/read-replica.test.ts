import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DatabaseUnavailableError, DuplicateJobIdError, InvalidStateError, JobManager, ValidationError } from '../../src/index.js';
import { runBin } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { agentJob } from '../support/jobs.js';
import { startReplica } from '../support/replica.js';
import { waitFor } from '../support/wait.js';

// Against a real streaming replica of the test server: pure reads come from it (with replay
// paused they show the past), while every write and every check that decides one sees the
// primary's present.

const db = useTestDatabase();
const made = await startReplica(inject('adminUrl'));
if (made.skip) process.stderr.write(`read replica tests skipped: ${made.skip}\n`);
const replica = made.replica!;
afterAll(async () => made.replica?.stop());

describe.skipIf(made.skip !== null)(`readDatabaseUrl against a streaming replica${made.skip ? ` (skipped: ${made.skip})` : ''}`, () => {
  let jobs: JobManager;
  let readUrl: string;
  beforeAll(async () => {
    readUrl = replica.via(db.directUrl);
    await replica.caughtUp(); // this file's database, created after the replica
    jobs = await JobManager.connect({ databaseUrl: db.url, readDatabaseUrl: readUrl });
  });
  afterAll(async () => jobs?.close());


  it('reads from a server in recovery, and writes to the primary', async () => {
    const [standby] = await replica.admin<{ r: boolean }[]>`SELECT pg_is_in_recovery() AS r`;
    expect(standby!.r).toBe(true);
    await jobs.createJob(agentJob('r-1', 'noop'));
    expect((await db.sql`SELECT 1 FROM taiat_jobs WHERE id = 'r-1'`).length).toBe(1);
    await waitFor(async () => (await jobs.getJob('r-1'))?.status === 'pending', 'r-1 to reach the replica');
  });

  it('lists, gets and explains what the replica has replayed: with replay paused, the past', async () => {
    await jobs.createJob(agentJob('old-1', 'noop'));
    await replica.whilePaused(async () => {
      await jobs.createJob(agentJob('new-1', 'noop'));
      await jobs.createJob(agentJob('new-2', 'noop', ['new-1']));
      expect((await db.sql`SELECT id FROM taiat_jobs WHERE id LIKE 'new-%'`).length).toBe(2);
      expect(await jobs.getJob('new-1')).toBeNull();
      expect(await jobs.explain('new-2')).toBeNull();
      const listed = (await jobs.listJobs({ limit: 1000 })).map((j) => j.id);
      expect(listed).toContain('old-1');
      expect(listed).not.toContain('new-1');
      expect((await jobs.getReadyJobs({ limit: 1000 })).map((j) => j.id)).not.toContain('new-1');
    });
    await waitFor(async () => (await jobs.explain('new-2'))?.state === 'blocked', 'the replica to replay new-2');
  });

  it('history listings read the replica: a cancel on the primary shows there once replayed', async () => {
    await jobs.createJob(agentJob('h-1', 'noop'));
    await replica.whilePaused(async () => {
      const cancelled = await jobs.cancelJob('h-1');
      // What a cancel returns is the primary's: never the replica's older copy.
      expect(cancelled.status).toBe('cancelled');
      expect((await jobs.getJobHistory({ limit: 1000 })).map((j) => j.id)).not.toContain('h-1');
      expect((await jobs.getJob('h-1'))!.status).toBe('pending');
    });
    await waitFor(async () => (await jobs.getJobHistory({ limit: 1000 })).some((j) => j.id === 'h-1'), 'h-1 in the replica\'s history');
  });

  it('decides cancels, retries and unique ids on the primary while the replica lags', async () => {
    await jobs.createJobs([agentJob('d-a', 'noop'), agentJob('d-b', 'noop', ['d-a'])]);
    await replica.whilePaused(async () => {
      await jobs.cancelJob('d-a'); // cascades to d-b, on the primary
      expect((await jobs.getJob('d-a'))!.status).toBe('pending'); // the replica has not seen it
      // A second cancel is refused by the primary's truth, not taken from the stale 'pending'.
      await expect(jobs.cancelJob('d-a')).rejects.toBeInstanceOf(InvalidStateError);
      // A retry is allowed (the primary says cancelled), brings d-b back, and returns the primary's job.
      const back = await jobs.retryJob('d-a', { dependents: true });
      expect(back.status).toBe('pending');
      const [b] = await db.sql<{ status: string }[]>`SELECT status FROM taiat_jobs WHERE id = 'd-b'`;
      expect(b!.status).toBe('pending');
      // A job the replica does not know yet still collides with the primary's.
      await jobs.createJob(agentJob('d-new', 'noop'));
      expect(await jobs.getJob('d-new')).toBeNull();
      await expect(jobs.createJob(agentJob('d-new', 'noop'))).rejects.toBeInstanceOf(DuplicateJobIdError);
    });
  });

  it('opens no second pool without readDatabaseUrl, and a pool of its own on the replica with it', async () => {
    // Counted per database (this file's), by the read pool's application name, on each server.
    const readers = (on: typeof db.sql) => on<{ pid: number }[]>`
      SELECT pid FROM pg_stat_activity WHERE application_name = 'taiat reads' AND datname = ${new URL(db.directUrl).pathname.slice(1)}`;
    const plain = await JobManager.connect({ databaseUrl: db.url });
    try {
      await plain.listJobs();
      await plain.getJobHistory({ limit: 1 });
      expect(await readers(db.sql)).toEqual([]);
    } finally {
      await plain.close();
    }
    const before = new Set((await readers(replica.admin)).map((r) => r.pid));
    const fresh = await JobManager.connect({ databaseUrl: db.url, readDatabaseUrl: readUrl });
    try {
      await fresh.listJobs();
      const after = (await readers(replica.admin)).map((r) => r.pid);
      expect(after.filter((pid) => !before.has(pid)).length).toBeGreaterThan(0);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a bad URL, naming the field, without echoing it', async () => {
    const bad = 'mysql://app:s3cret-pw@db/app';
    const error = await JobManager.connect({ databaseUrl: db.url, readDatabaseUrl: bad }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('readDatabaseUrl');
    expect((error as Error).message).not.toContain('s3cret');
    process.env.TAIAT_READ_DATABASE_URL = bad;
    try {
      const fromEnv = await JobManager.connect({ databaseUrl: db.url }).catch((e: unknown) => e);
      expect((fromEnv as ValidationError).field).toBe('readDatabaseUrl');
      expect((fromEnv as Error).message).not.toContain('s3cret');
    } finally {
      delete process.env.TAIAT_READ_DATABASE_URL;
    }
  });

  it('an unreachable replica fails reads only, with its URL redacted', async () => {
    const down = await JobManager.connect({ databaseUrl: db.url, readDatabaseUrl: 'postgres://app:s3cret-pw@127.0.0.1:1/app' });
    try {
      const error = await down.listJobs().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as Error).message).toContain('127.0.0.1:1');
      expect((error as Error).message).not.toContain('s3cret');
      expect((await down.createJob(agentJob('u-1', 'noop'))).status).toBe('pending');
    } finally {
      await down.close();
    }
  });

  it('taiat-worker --status --json and taiat job list read the replica', async () => {
    await replica.whilePaused(async () => {
      await jobs.createJobs([agentJob('s-1', 'noop'), agentJob('s-2', 'noop')]);
      const [{ n }] = await db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE status = 'pending'`;
      const args = ['--database-url', db.url, '--read-database-url', readUrl];
      const status = await runBin('taiat-worker', ['--status', '--json', ...args]);
      expect(status.stderr).toBe('');
      expect(JSON.parse(status.stdout).pending.total).toBe(n - 2);
      const primaryOnly = await runBin('taiat-worker', ['--status', '--json', '--database-url', db.url]);
      expect(JSON.parse(primaryOnly.stdout).pending.total).toBe(n);
      const listed = await runBin('taiat', ['job', 'list', '--json', ...args]);
      expect(listed.code).toBe(0);
      expect((JSON.parse(listed.stdout) as { id: string }[]).map((j) => j.id)).not.toContain('s-1');
    });
    const bad = await runBin('taiat', ['job', 'list', '--database-url', db.url, '--read-database-url', 'nope://x:s3cret@h/d']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/readDatabaseUrl/);
    expect(bad.stderr).not.toContain('s3cret');
  });
});
