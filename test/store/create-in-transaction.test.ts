import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConnection, type Connection } from '../../src/db/connection.js';
import { DependencyError, ValidationError, type NewJob } from '../../src/index.js';
import { validateNewJob } from '../../src/jobs/validation.js';
import { useWorkerHarness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db } = harness;

// The application's own table, written in the same transactions as its jobs.
let kysely: Connection;
let listener: postgres.Sql;
const heard: string[] = [];
beforeAll(async () => {
  await db.sql`CREATE TABLE IF NOT EXISTS app_orders (id serial PRIMARY KEY, total numeric NOT NULL)`;
  kysely = openConnection(db.url, { max: 1 });
  listener = postgres(db.url, { max: 1, onnotice: () => {} });
  await listener.listen('taiat_jobs_ready', (queue) => heard.push(queue));
});
afterAll(async () => {
  await kysely.close();
  await listener.end();
});

const email = (queue: string, extra: Partial<NewJob> = {}): NewJob => ({ jobType: 'agent', name: 'send-email', queue, payload: { agent_name: 'email' }, ...extra });
const pick = (e: unknown) => { const { code, message, jobIds } = e as DependencyError; return { code, message, jobIds }; };
const count = async (table: string) => (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${db.sql(table)}`)[0]!.n;
const rollback = new Error('rolled back by the test');

describe('createJob(s) in the application\'s transaction', () => {
  it('postgres.js: commits with the app\'s row and wakes workers; a rollback leaves neither job nor wake-up', async () => {
    await db.sql.begin(async (tx) => {
      await tx`INSERT INTO app_orders (total) VALUES (10)`;
      await harness.jobs.createJob(email('rolled-pg'), { tx });
      throw rollback;
    }).catch((e: unknown) => expect(e).toBe(rollback));
    const created = await db.sql.begin(async (tx) => {
      await tx`INSERT INTO app_orders (total) VALUES (20)`;
      const job = await harness.jobs.createJob(email('committed-pg'), { tx });
      // Not visible outside the transaction before it commits.
      expect(await harness.jobs.getJob(job.id)).toBeNull();
      return job;
    });
    expect((await harness.jobs.getJob(created.id))?.status).toBe('pending');
    await waitFor(() => heard.includes('committed-pg'), 'the wake-up');
    expect(heard).not.toContain('rolled-pg');
    expect(await count('app_orders')).toBe(1);
    expect((await db.sql`SELECT queue FROM taiat_jobs`).map((r) => r.queue)).toEqual(['committed-pg']);
  });

  it('node-postgres: a whole graph inside BEGIN, all or nothing', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const graph = (queue: string): NewJob[] => [
        { id: `${queue}-a`, jobType: 'task', name: 'a', queue },
        { id: `${queue}-b`, jobType: 'task', name: 'b', queue, dependencies: [`${queue}-a`] },
      ];
      await client.query('BEGIN');
      await harness.jobs.createJobs(graph('rolled-node'), { tx: client });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      const created = await harness.jobs.createJobs(graph('kept-node'), { tx: client });
      await client.query('COMMIT');
      expect(created.map((j) => j.id)).toEqual(['kept-node-a', 'kept-node-b']);
      const rows = await db.sql`SELECT id, pending_dependencies, has_dependents FROM taiat_jobs ORDER BY id`;
      expect(rows).toEqual([
        { id: 'kept-node-a', pending_dependencies: 0, has_dependents: true },
        { id: 'kept-node-b', pending_dependencies: 1, has_dependents: false },
      ]);
    } finally {
      await client.end();
    }
  });

  it('Kysely: in db.transaction(), and the created job is what getJob returns', async () => {
    const job = await kysely.db.transaction().execute(async (trx) => harness.jobs.createJob(email('kysely', { priority: 'high', maxRetries: 1 }), { tx: trx }));
    const stored = await harness.jobs.getJob(job.id);
    expect(stored).toMatchObject({ id: job.id, priority: 3, maxRetries: 1, queue: 'kysely', status: 'pending' });
    expect(stored!.createdAt.getTime()).toBe(job.createdAt.getTime());
  });

  it('a refused create raises the usual TaiatError and leaves the app\'s transaction usable', async () => {
    const orders = await count('app_orders');
    await db.sql.begin(async (tx) => {
      await tx`INSERT INTO app_orders (total) VALUES (30)`;
      const error = await harness.jobs.createJob(email('x', { dependencies: ['no-such-job'] }), { tx }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DependencyError);
      expect(error).toMatchObject({ code: 'TAIAT_DEPENDENCY_UNKNOWN', jobIds: ['no-such-job'] });
      await tx`INSERT INTO app_orders (total) VALUES (40)`;
    });
    expect(await count('app_orders')).toBe(orders + 2);
    expect(await count('taiat_jobs')).toBe(0);
    const bad = await db.sql.begin((tx) => harness.jobs.createJob({ jobType: 'agent', name: 'x', payload: {} }, { tx })).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad).toMatchObject({ field: 'payload.agent_name' });
    for (const tx of [{}, 42, db.sql]) {
      const wrong = await harness.jobs.createJob(email('x'), { tx: tx as never }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ code: 'TAIAT_INVALID_INPUT', field: expect.stringMatching(/tx$/) });
    }
    const outside = new pg.Client({ connectionString: db.url });
    await outside.connect();
    try {
      await expect(harness.jobs.createJob(email('x'), { tx: outside })).rejects.toMatchObject({ field: 'tx', message: expect.stringMatching(/no BEGIN/) });
    } finally {
      await outside.end();
    }
    expect(await count('taiat_jobs')).toBe(0);
  });
  it('keeps concurrencyKey, in a graph and beside a unique key, and it goes to history when the job completes', async () => {
    const created = await db.sql.begin((tx) => harness.jobs.createJobs([
      email('keyed-tx', { id: 'ck-tx-1', concurrencyKey: 'tenant-1' }),
      email('keyed-tx', { dependencies: ['ck-tx-1'] }),
      email('keyed-tx', { uniqueKey: 'ck-tx-unique', concurrencyKey: 'tenant-2' }),
    ], { tx }));
    expect(created.map((j) => j.concurrencyKey)).toEqual(['tenant-1', null, 'tenant-2']);
    for (const job of created) expect(await harness.jobs.getJob(job.id)).toEqual(job);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    let job;
    try {
      await client.query('BEGIN');
      job = await harness.jobs.createJob({ jobType: 'agent', name: 'done', payload: { agent_name: 'noop' }, queue: 'ck-done', concurrencyKey: 'tenant-3' }, { tx: client });
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    expect(job.concurrencyKey).toBe('tenant-3');
    await harness.startWorker({ queues: ['ck-done'], agents: { noop: () => null } });
    expect(await harness.finished(job.id)).toMatchObject({ status: 'completed', concurrencyKey: 'tenant-3' });
    const [row] = await db.sql`SELECT concurrency_key FROM taiat_job_history WHERE job_id = ${job.id}`;
    expect(row!.concurrency_key).toBe('tenant-3');
  });

  it('refuses a dependency with the error a create outside a transaction gives: code, message and ids', async () => {
    await harness.jobs.createJob({ ...email('gone'), id: 'gone' });
    await harness.jobs.cancelJob('gone');
    const graph = [email('first', { dependencies: ['gone'] }), { ...email('second', { dependencies: ['no-such, job', 'gone'] }), id: 'chosen' }];
    for (const deps of [['gone'], ['no-such, job']]) {
      const input = graph.map((j) => ({ ...j, dependencies: j.dependencies!.filter((d) => deps.includes(d)) })).filter((j) => j.dependencies.length > 0);
      const outside = await harness.jobs.createJobs(input).catch((e: unknown) => e as DependencyError);
      const inside = await db.sql.begin((tx) => harness.jobs.createJobs(input, { tx })).catch((e: unknown) => e as DependencyError);
      expect(outside).toBeInstanceOf(DependencyError);
      expect(inside).toBeInstanceOf(DependencyError);
      expect(pick(inside)).toEqual(pick(outside));
    }
    expect(await count('taiat_jobs')).toBe(0);
  });
});

describe('taiat_create_job and taiat_create_jobs in SQL', () => {
  it('create one job and a graph, returning their ids', async () => {
    const [row0] = await db.sql<{ id: string }[]>`SELECT taiat_create_job('agent', 'one', '{"agent_name": "email"}', priority => 4) AS id`;
    const id = row0!.id;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await harness.jobs.getJob(id)).toMatchObject({ name: 'one', priority: 4, payload: { agent_name: 'email' }, maxRetries: 3, queue: 'default' });
    const ids = (await db.sql<{ id: string }[]>`SELECT * FROM taiat_create_jobs(${JSON.stringify([
      { id: 'g-1', jobType: 'task', name: 'first', priority: 'urgent' },
      { jobType: 'task', name: 'second', dependencies: ['g-1', id] },
    ])}::text::jsonb) AS id`).map((r) => r.id);
    expect(ids[0]).toBe('g-1');
    expect(await harness.jobs.getJob(ids[1]!)).toMatchObject({ dependencies: ['g-1', id], status: 'pending' });
    const [row] = await db.sql`SELECT pending_dependencies FROM taiat_jobs WHERE id = ${ids[1]!}`;
    expect(row!.pending_dependencies).toBe(2);
  });

  it('taiat_create_jobs takes concurrencyKey and stores it', async () => {
    const ids = (await db.sql<{ id: string }[]>`SELECT * FROM taiat_create_jobs(${JSON.stringify([
      { jobType: 'task', name: 'keyed', concurrencyKey: 'tenant-sql' },
      { jobType: 'task', name: 'keyed and unique', uniqueKey: 'ck-sql', concurrencyKey: 'tenant-sql' },
      { jobType: 'task', name: 'plain' },
    ])}::text::jsonb) AS id`).map((r) => r.id);
    expect(await Promise.all(ids.map(async (id) => (await harness.jobs.getJob(id))!.concurrencyKey))).toEqual(['tenant-sql', 'tenant-sql', null]);
    // The positional function is unchanged: no key.
    const [one] = await db.sql<{ id: string }[]>`SELECT taiat_create_job('task', 'positional') AS id`;
    expect((await harness.jobs.getJob(one!.id))!.concurrencyKey).toBeNull();
  });

  it('a trigger enqueues a job with the row that caused it, in the same transaction', async () => {
    await db.sql.unsafe(`
      CREATE OR REPLACE FUNCTION app_order_email() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM taiat_create_job('agent', 'order-email',
          jsonb_build_object('agent_name', 'email', 'parameters', jsonb_build_object('order_id', NEW.id)));
        RETURN NEW;
      END $$;
      CREATE OR REPLACE TRIGGER app_order_email AFTER INSERT ON app_orders FOR EACH ROW EXECUTE FUNCTION app_order_email();`);
    try {
      await db.sql.begin(async (tx) => {
        await tx`INSERT INTO app_orders (total) VALUES (1)`;
        throw rollback;
      }).catch(() => {});
      const [order] = await db.sql`INSERT INTO app_orders (total) VALUES (2) RETURNING id`;
      const jobs = await db.sql`SELECT name, payload FROM taiat_jobs`;
      expect(jobs).toEqual([{ name: 'order-email', payload: { agent_name: 'email', parameters: { order_id: order!.id } } }]);
      // Many rows in one statement: one call each, and no notice about the scratch tables (a
      // client printing notices, as postgres.js does by default, showed one per table per call).
      const notices: string[] = [];
      const app = postgres(db.url, { max: 1, onnotice: (n) => notices.push(String(n.message)) });
      await app`INSERT INTO app_orders (total) SELECT g FROM generate_series(3, 5) g`.finally(() => app.end());
      expect((await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`)[0]!.n).toBe(4);
      expect(notices).toEqual([]);
    } finally {
      await db.sql`DROP TRIGGER app_order_email ON app_orders`;
    }
  });

  it('refuses what the library refuses, with the same field, code and message, and writes nothing', async () => {
    const cases: unknown[] = [
      { name: 'x' }, { jobType: '', name: 'x' }, { jobType: 7, name: 'x' }, { jobType: 't' }, { jobType: 't', name: 'x'.repeat(1001) },
      { jobType: 't', name: 'x', payload: [] }, { jobType: 'agent', name: 'x' }, { jobType: 'agent', name: 'x', payload: { agent_name: 'a', parameters: 3 } },
      { jobType: 't', name: 'x', priority: 'highest' }, { jobType: 't', name: 'x', priority: 1.5 }, { jobType: 't', name: 'x', priority: true },
      { jobType: 't', name: 'x', maxRetries: -1 }, { jobType: 't', name: 'x', maxRetries: 2.5 }, { jobType: 't', name: 'x', maxRetries: 1001 },
      { jobType: 't', name: 'x', queue: '' }, { jobType: 't', name: 'x', runAt: 'not a date' }, { jobType: 't', name: 'x', id: '' },
      { jobType: 't', name: 'x', timeoutSeconds: 0 }, { jobType: 't', name: 'x', retryDelaySeconds: -1 }, { jobType: 't', name: 'x', dependencies: 'a' },
      { jobType: 't', name: 'x', dependencies: ['a', ''] }, { jobType: 't', name: 'x', description: 5 }, { jobType: 't', name: 'x', colour: 'red' },
      { jobType: 't', name: 'x', concurrencyKey: '' }, { jobType: 't', name: 'x', concurrencyKey: 'x'.repeat(201) },
      { jobType: 't', name: 'x', concurrencyKey: 7 }, { jobType: 't', name: 'x', concurrencyKey: null }, { jobType: 't', name: 'x', concurrencyKey: ['k'] },
      'not an object',
    ];
    for (const input of cases) {
      let library: ValidationError | undefined;
      try {
        validateNewJob(input, undefined, 'jobs[0]');
      } catch (e) {
        library = e as ValidationError;
      }
      expect(library, JSON.stringify(input)).toBeInstanceOf(ValidationError);
      const database = await db.sql`SELECT * FROM taiat_create_jobs(${JSON.stringify([input])}::text::jsonb)`.catch((e: unknown) => e as postgres.PostgresError);
      expect({ input, detail: (database as postgres.PostgresError).detail, hint: (database as postgres.PostgresError).hint, message: (database as Error).message })
        .toEqual({ input, detail: library!.code, hint: library!.field, message: library!.message });
    }
    const cycle = await db.sql`SELECT * FROM taiat_create_jobs(${JSON.stringify([
      { id: 'c1', jobType: 't', name: 'one', dependencies: ['c2'] }, { id: 'c2', jobType: 't', name: 'two', dependencies: ['c1'] },
    ])}::text::jsonb)`.catch((e: unknown) => e as postgres.PostgresError);
    expect(cycle).toMatchObject({ detail: 'TAIAT_DEPENDENCY_CYCLE', message: 'dependency cycle: c1 (one) -> c2 (two) -> c1 (one)' });
    expect(await count('taiat_jobs')).toBe(0);
  });
});
