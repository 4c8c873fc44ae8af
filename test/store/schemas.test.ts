import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobManager, readStatus, runMigrations, verifySchema, Worker, type Job } from '../../src/index.js';
import { schemaNames } from '../../src/store/index.js';
import { createDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

// Two taiat instances in two schemas of one database share nothing: jobs, ids, workers,
// notification channels, advisory locks, migration records.

let db: Awaited<ReturnType<typeof createDatabase>>;
let sql: postgres.Sql;
const managers: JobManager[] = [];
const workers: Worker[] = [];

beforeAll(async () => {
  db = await createDatabase({ migrated: false });
  sql = postgres(db.url, { max: 2, onnotice: () => {} });
  await runMigrations(db.url, { schema: 'tenant_a' });
  await runMigrations(db.url, { schema: 'tenant_b' });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all(managers.map((m) => m.close()));
  await sql.end();
  await db.drop();
});

async function connect(schema: string) {
  const jobs = await JobManager.connect({ databaseUrl: db.url, schema });
  managers.push(jobs);
  return jobs;
}

async function startWorker(schema: string, ran: string[]) {
  const worker = new Worker({
    databaseUrl: db.url, schema, pollInterval: 30, pruneIntervalHours: 0,
    agents: { record: (_p, ctx) => void ran.push(`${schema}:${ctx.job.id}`) },
  });
  workers.push(worker);
  await worker.start();
  return worker;
}

const finished = (jobs: JobManager, id: string) =>
  waitFor(async () => ((await jobs.getJob(id))?.location === 'history' ? (await jobs.getJob(id))! : null), `job ${id} to finish`, 10_000);

describe('schemas', () => {
  it('puts every table, and the record of applied migrations, in the named schema only', async () => {
    const rows = await sql<{ schema: string; name: string }[]>`
      SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`;
    const tables = ['taiat_all_jobs', 'taiat_dashboard_actions', 'taiat_finished_minutes', 'taiat_job_history', 'taiat_jobs', 'taiat_migrations', 'taiat_queue_keys', 'taiat_queues', 'taiat_rate_claims', 'taiat_schedule_ticks', 'taiat_schedules', 'taiat_unique_keys', 'taiat_workers'];
    expect(rows).toEqual([...tables.map((name) => ({ schema: 'tenant_a', name })), ...tables.map((name) => ({ schema: 'tenant_b', name }))]);
    expect(await verifySchema(db.url, { schema: 'tenant_a' })).toMatchObject({ current: true, missing: [] });
    expect((await verifySchema(db.url)).current).toBe(false);
  });

  it('keeps jobs, ids and workers apart, and wakes only the workers of the schema a job was created in', async () => {
    const [a, b] = [await connect('tenant_a'), await connect('tenant_b')];
    const ran: string[] = [];
    // A 30 s poll: a job that runs at once was announced on its own schema's channel.
    await startWorker('tenant_a', ran);
    await startWorker('tenant_b', ran);
    const created: Job[] = [
      await a.createJob({ id: 'same-id', jobType: 'agent', name: 'in a', payload: { agent_name: 'record' } }),
      await b.createJob({ id: 'same-id', jobType: 'agent', name: 'in b', payload: { agent_name: 'record' } }),
    ];
    expect(created.map((j) => j.name)).toEqual(['in a', 'in b']);
    expect((await finished(a, 'same-id')).name).toBe('in a');
    expect((await finished(b, 'same-id')).name).toBe('in b');
    expect(ran.sort()).toEqual(['tenant_a:same-id', 'tenant_b:same-id']);
    const [statusA, statusB] = [await readStatus(sql, { schema: 'tenant_a' }), await readStatus(sql, { schema: 'tenant_b' })];
    expect(statusA.workers.alive.map((w) => w.id)).toEqual([workers[0]!.id]);
    expect(statusB.workers.alive.map((w) => w.id)).toEqual([workers[1]!.id]);
    expect(statusA.finished.lastHour.completed).toBe(1);
  });

  it('announces on channels of its own', async () => {
    const heard: string[] = [];
    const listeners = await Promise.all(['taiat_jobs_ready', 'taiat_jobs_ready:tenant_a', 'taiat_jobs_ready:tenant_b']
      .map((channel) => sql.listen(channel, (queue) => heard.push(`${channel} ${queue}`))));
    try {
      await (await connect('tenant_a')).createJob({ jobType: 'agent', name: 'heard', queue: 'nobody-reads', payload: { agent_name: 'record' } });
      await waitFor(() => heard.length > 0, 'the notification');
      await new Promise((r) => setTimeout(r, 200));
      expect(heard).toEqual(['taiat_jobs_ready:tenant_a nobody-reads']);
    } finally {
      await Promise.all(listeners.map((l) => l.unlisten()));
    }
  });

  it('takes advisory locks of its own: a prune in one schema does not hold up the other', async () => {
    const [workerA, workerB] = workers;
    const holder = await sql.reserve();
    try {
      await holder`SELECT pg_advisory_lock(${schemaNames('tenant_a').lockKey('prune')}::bigint)`;
      expect(await workerA!.pruneHistory()).toBeNull();
      expect(await workerB!.pruneHistory()).toBe(0);
    } finally {
      await holder`SELECT pg_advisory_unlock_all()`;
      holder.release();
    }
    expect(await workerA!.pruneHistory()).toBe(0);
  });

  it('takes the schema from --schema or TAIAT_SCHEMA on the command line, and refuses a name it cannot use', async () => {
    const init = await runBin('taiat', ['init', '--json'], { TAIAT_DATABASE_URL: db.url, TAIAT_SCHEMA: 'tenant_c' });
    expect(init.code).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ current: true });
    const created = await runBin('taiat', ['job', 'create', '--schema', 'tenant_c', '--type', 'task', '--name', 'c', '--json'], { TAIAT_DATABASE_URL: db.url });
    expect(created.code).toBe(0);
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM tenant_c.taiat_jobs`;
    expect(row!.n).toBe(1);
    const bad = await runBin('taiat', ['status', '--schema', 'Robert"; DROP'], { TAIAT_DATABASE_URL: db.url });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error \[TAIAT_CONFIG_INVALID\]: schema: "Robert\\"; DROP" is not a schema name taiat accepts/);
    await expect(JobManager.connect({ databaseUrl: db.url, schema: 'x'.repeat(47) })).rejects.toMatchObject({ code: 'TAIAT_CONFIG_INVALID', field: 'schema' });
  });
});
