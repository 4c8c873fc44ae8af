import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { JobManager } from '../../src/index.js';
import { escapeIdentifier } from '../../src/db/embedded.js';
import { createDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';
import { commitsEarly } from '../../src/store/durability.js';
import { TEST_RUNS_TABLE } from '../support/processes.js';

// Roles are cluster-wide: unique names per run, dropped at the end.
const suffix = randomBytes(4).toString('hex');
const roles = {
  owner: { name: `taiat_owner_${suffix}`, password: `own-${randomBytes(9).toString('hex')}` },
  app: { name: `taiat_app_${suffix}`, password: `app-${randomBytes(9).toString('hex')}` },
  readonly: { name: `taiat_ro_${suffix}`, password: `ro-${randomBytes(9).toString('hex')}` },
};
let database: Awaited<ReturnType<typeof createDatabase>>;
let admin: postgres.Sql;
const urlFor = (role: { name: string; password: string }) => {
  const u = new URL(database.url);
  u.username = role.name;
  u.password = role.password;
  return u.toString();
};
const outputs: string[] = [];

beforeAll(async () => {
  database = await createDatabase({ migrated: false });
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
  for (const r of Object.values(roles)) await admin.unsafe(`CREATE ROLE ${escapeIdentifier(r.name)} LOGIN PASSWORD '${r.password}'`);
  await admin.unsafe(`ALTER DATABASE ${escapeIdentifier(database.name)} OWNER TO ${escapeIdentifier(roles.owner.name)}`);
});

afterAll(async () => {
  await database.drop();
  for (const r of Object.values(roles)) await admin.unsafe(`DROP ROLE IF EXISTS ${escapeIdentifier(r.name)}`);
  await admin.end();
  // No password may appear in anything taiat printed during this file.
  const all = outputs.join('\n');
  for (const r of Object.values(roles)) expect(all).not.toContain(r.password);
});

it('taiat init runs as the owner; workers and the API need only DML; status works read-only', async () => {
  const init = await runBin('taiat', ['init', '--database-url', urlFor(roles.owner)]);
  outputs.push(init.stdout, init.stderr);
  expect(init.code).toBe(0);

  // The grants of docs/operations.md, run by the owner.
  const owner = postgres(urlFor(roles.owner), { max: 1, onnotice: () => {} });
  const app = escapeIdentifier(roles.app.name);
  const ro = escapeIdentifier(roles.readonly.name);
  await owner.unsafe(`
    GRANT USAGE ON SCHEMA public TO ${app}, ${ro};
    GRANT SELECT, INSERT, UPDATE, DELETE ON taiat_jobs, taiat_job_history, taiat_workers, taiat_schedules, taiat_schedule_ticks, taiat_unique_keys, taiat_queues, taiat_queue_keys, taiat_rate_claims, taiat_dashboard_actions, taiat_finished_minutes TO ${app};
    GRANT SELECT ON taiat_all_jobs, taiat_migrations TO ${app};
    GRANT SELECT ON taiat_jobs, taiat_job_history, taiat_workers, taiat_all_jobs, taiat_migrations, taiat_schedules, taiat_schedule_ticks, taiat_unique_keys, taiat_queues, taiat_queue_keys, taiat_rate_claims, taiat_dashboard_actions, taiat_finished_minutes TO ${ro};
    ${TEST_RUNS_TABLE};
    GRANT ALL ON test_runs, test_runs_id_seq TO ${app};`);
  await owner.end();

  // The application role creates jobs and runs a worker, but cannot change the schema.
  const jobs = await JobManager.connect({ databaseUrl: urlFor(roles.app) });
  await jobs.createJobs([
    { id: 'lp-1', jobType: 'agent', name: 'one', payload: { agent_name: 'record' } },
    { id: 'lp-2', jobType: 'agent', name: 'two', payload: { agent_name: 'record' }, dependencies: ['lp-1'] },
  ]);
  // Unique keys and schedules, with the same grants.
  const keyed = { jobType: 'agent', name: 'keyed', payload: { agent_name: 'record' }, uniqueKey: 'lp', uniqueWhile: 'period' as const, uniquePeriodSeconds: 3600 };
  const first = await jobs.createJob(keyed);
  expect(await jobs.createJob(keyed)).toMatchObject({ id: first.id, deduplicated: true });
  await jobs.upsertSchedule('lp-hourly', { every: '1h', job: keyed });
  expect(await jobs.triggerSchedule('lp-hourly')).toEqual([first.id]);
  const worker = await runBin('taiat-worker', ['--once', '--agents', 'test/fixtures/recording-agents.mjs', '--log-level', 'debug'], { TAIAT_DATABASE_URL: urlFor(roles.app) });
  outputs.push(worker.stdout, worker.stderr);
  expect(worker.code).toBe(0);
  expect(await jobs.getJob('lp-2')).toMatchObject({ status: 'completed' });
  const appSql = postgres(urlFor(roles.app), { max: 1, onnotice: () => {} });
  await expect(appSql`DROP TABLE taiat_jobs`).rejects.toThrow(/must be owner of table taiat_jobs/);
  await expect(appSql`CREATE TABLE sneaky (id int)`).rejects.toThrow(/permission denied for schema public/);
  await appSql.end();
  await jobs.close();

  // The read-only role sees the status but cannot write.
  const status = await runBin('taiat', ['status', '--json'], { TAIAT_DATABASE_URL: urlFor(roles.readonly) });
  outputs.push(status.stdout, status.stderr);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).finished.lastHour.completed).toBe(3);
  // A large call is refused by the COPY itself, as an error (it once crashed the process).
  const readonly = await JobManager.connect({ databaseUrl: urlFor(roles.readonly) });
  await expect(readonly.createJobs(Array.from({ length: 2_500 }, (_, i) => ({ jobType: 'x', name: `n${i}` }))))
    .rejects.toThrow(/permission denied for table taiat_jobs/);
  await readonly.close();
  const write = await runBin('taiat', ['job', 'create', '--type', 'x', '--name', 'nope'], { TAIAT_DATABASE_URL: urlFor(roles.readonly) });
  outputs.push(write.stdout, write.stderr);
  expect(write.code).toBe(1);
  expect(write.stderr).toMatch(/permission denied for table taiat_jobs/);

  // A wrong password is reported without the password tried.
  const wrong = await runBin('taiat', ['status'], { TAIAT_DATABASE_URL: urlFor({ name: roles.app.name, password: 'not-the-password-9f8e7d' }) });
  outputs.push(wrong.stdout, wrong.stderr);
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(/^error \[TAIAT_DATABASE_UNAVAILABLE\]: cannot reach the database at postgres:\/\/taiat_app_[0-9a-f]+:\*\*\*@/);
  expect(wrong.stderr).not.toContain('not-the-password-9f8e7d');
}, 60_000);

it('where the WAL flush statement is not allowed, creates commit synchronously instead, and work', async () => {
  // A pool that found the statement allowed, then a revoke (a hardened server may revoke EXECUTE
  // on pg_logical_emit_message; see durability.ts).
  const before = await JobManager.connect({ databaseUrl: urlFor(roles.app) });
  const dbAdmin = postgres(database.url, { max: 1, onnotice: () => {} }); // the test's superuser, in this database
  await dbAdmin.unsafe(`
    DO $$ DECLARE f regprocedure; BEGIN
      FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = 'pg_logical_emit_message' LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
      END LOOP;
    END $$`);
  await dbAdmin.end();
  // The create that meets the revoke waits for the WAL writer instead; later ones commit synchronously.
  const first = await before.createJob({ jobType: 'task', name: 'revoked-first' });
  const second = await before.createJob({ jobType: 'task', name: 'revoked-second' });
  expect(await before.getJob(first.id)).toMatchObject({ status: 'pending' });
  expect(await before.getJob(second.id)).toMatchObject({ status: 'pending' });
  await before.close();

  const probe = postgres(urlFor(roles.app), { max: 1, onnotice: () => {} });
  expect(await commitsEarly(probe)).toBe(false);
  await probe.end();
  const jobs = await JobManager.connect({ databaseUrl: urlFor(roles.app) });
  const one = await jobs.createJob({ jobType: 'task', name: 'sync-one' });
  const graph = await jobs.createJobs([
    { id: 'lp-s1', jobType: 'task', name: 's1' },
    { id: 'lp-s2', jobType: 'task', name: 's2', dependencies: ['lp-s1'] },
  ]);
  expect(await jobs.getJob(one.id)).toMatchObject({ status: 'pending' });
  expect(await jobs.getJob(graph[1]!.id)).toMatchObject({ dependencies: ['lp-s1'] });
  await jobs.close();
});
