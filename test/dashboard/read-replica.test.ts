import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDashboardHandler, JobManager, ValidationError, type DashboardHandler } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { agentJob } from '../support/jobs.js';
import { spawnWorker } from '../support/processes.js';
import { startReplica } from '../support/replica.js';
import { waitFor } from '../support/wait.js';

// The dashboard with readDatabaseUrl, against a real streaming replica with replay paused: the
// pages show the replica's past; actions and the checks that guard them act on the primary.

const db = useTestDatabase();
const made = await startReplica(inject('adminUrl'));
if (made.skip) process.stderr.write(`read replica tests skipped: ${made.skip}\n`);
const replica = made.replica!;
afterAll(async () => made.replica?.stop());

describe.skipIf(made.skip !== null)(`the dashboard with readDatabaseUrl${made.skip ? ` (skipped: ${made.skip})` : ''}`, () => {
  let jobs: JobManager;
  let dash: DashboardHandler;
  let csrf: string;
  let readUrl: string;
  const call = async (path: string, init: RequestInit = {}) => {
    const response = await dash.fetch(new Request(`http://127.0.0.1${path}`, init));
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const post = (path: string, body: unknown = {}) =>
    call(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-taiat-csrf': csrf }, body: JSON.stringify(body) });

  beforeAll(async () => {
    readUrl = replica.via(db.directUrl);
    await replica.caughtUp();
    jobs = await JobManager.connect({ databaseUrl: db.url }); // the primary only: what the test does
    dash = await createDashboardHandler({ databaseUrl: db.url, readDatabaseUrl: readUrl });
    csrf = (await call('/api/session')).body.csrfToken as string;
  });
  afterAll(async () => {
    await dash?.close();
    await jobs?.close();
  });


  it('shows the replica on its pages and acts on the primary', async () => {
    await jobs.createJob(agentJob('p-root', 'noop', [], { queue: 'pages' }));
    await replica.whilePaused(async () => {
      await jobs.createJobs([agentJob('p-new', 'noop', [], { queue: 'pages' }), agentJob('p-child', 'noop', ['p-root'], { queue: 'pages' })]);
      expect((await call('/api/jobs/p-new')).status).toBe(404);
      const listed = (await call('/api/jobs?queue=pages')).body.jobs as { id: string }[];
      expect(listed.map((j) => j.id)).toEqual(['p-root']);
      const overview = (await call('/api/overview')).body as { status: { pending: { total: number } } };
      expect(overview.status.pending.total).toBe(1);
      // The preview reads the replica: p-child, created since, is not counted yet...
      expect((await call('/api/jobs/p-root/cancel-preview')).body.total).toBe(0);
      // ...but the cancel decides on the primary, and takes it along.
      const cancelled = await post('/api/jobs/p-root/cancel');
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.cancelledWithIt).toBe(1);
      // A job only the primary has yet can be cancelled from the dashboard.
      expect((await post('/api/jobs/p-new/cancel')).status).toBe(200);
      const rows = await db.sql<{ status: string }[]>`SELECT status FROM taiat_job_history WHERE job_id IN ('p-root', 'p-child', 'p-new')`;
      expect(rows.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    });
    await waitFor(async () => (await call('/api/jobs/p-new')).status === 200, 'the replica to replay the cancels');
  });

  it('refuses a bulk action whose selection the primary counts differently from the page (409)', async () => {
    await jobs.createJobs([agentJob('b-1', 'noop', [], { queue: 'bulk' }), agentJob('b-2', 'noop', [], { queue: 'bulk' })]);
    await replica.whilePaused(async () => {
      await jobs.createJob(agentJob('b-3', 'noop', [], { queue: 'bulk' }));
      const counted = (await call('/api/jobs/count?queue=bulk&status=pending')).body;
      expect(counted.count).toBe(2); // the replica's count, a moment old
      const refused = await post('/api/bulk/cancel', { filter: { queue: 'bulk', status: 'pending' }, expectedCount: 2 });
      expect(refused.status).toBe(409);
      const done = await post('/api/bulk/cancel', { filter: { queue: 'bulk', status: 'pending' }, expectedCount: 3 });
      expect(done.body.done).toBe(3);
    });
  });

  it('answers every read route from the standby (no statement of theirs writes)', async () => {
    await jobs.createJobs([agentJob('g-1', 'noop'), agentJob('g-2', 'noop', ['g-1'])]);
    await replica.caughtUp();
    for (const path of ['/api/overview', '/api/workers', '/api/queues', '/api/schedules', '/api/actions', '/api/jobs/g-2', '/api/jobs/g-2/graph', '/api/graph/g-1']) {
      expect((await call(path)).status, path).toBe(200);
    }
  });

  it('refuses a bad readDatabaseUrl, naming the field', async () => {
    const error = await createDashboardHandler({ databaseUrl: db.url, readDatabaseUrl: 'http://u:s3cret@h/d' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('options.readDatabaseUrl');
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('taiat-worker --dashboard-port serves the replica with --read-database-url', async () => {
    await replica.whilePaused(async () => {
      await jobs.createJob(agentJob('w-new', 'noop', [], { queue: 'elsewhere' }));
      const worker = spawnWorker(db.url, ['--dashboard-port', '0', '--read-database-url', readUrl]);
      try {
        const [, url] = await waitFor(() => /dashboard at (http:\/\/\S+?)\/?["\s]/.exec(worker.output()), 'the worker\'s dashboard', 20_000);
        expect((await fetch(`${url}/api/jobs/w-new`)).status).toBe(404);
        expect((await fetch(`${url}/api/jobs?queue=elsewhere`)).status).toBe(200);
        expect(worker.output()).not.toContain(new URL(readUrl).password);
      } finally {
        worker.child.kill('SIGTERM');
        await worker.exited;
      }
    });
  });
});
