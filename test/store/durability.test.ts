import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js';
import { JobManager, runMigrations } from '../../src/index.js';
import { validateNewJob } from '../../src/jobs/validation.js';
import { createJobs } from '../../src/store/create-jobs.js';
import { commitsEarly } from '../../src/store/durability.js';
import { claimJobs, schemaNames } from '../../src/store/index.js';
import { deferred, waitFor } from '../support/wait.js';

// Creates commit without waiting for their WAL flush and flush before returning (durability.ts).
// These tests crash Postgres the way a power cut would treat its memory: the WAL writer is
// stopped (SIGSTOP) so that nothing writes WAL buffers out behind our back, then killed, which
// makes the postmaster reinitialise shared memory and replay the WAL. A commit whose WAL was
// only in memory is gone afterwards; one that was flushed survives. A server of this file's own.
let dir: string;
let server: EmbeddedPostgres;
let sql: postgres.Sql;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-durable-'));
  server = await startEmbeddedPostgres({ dir, database: 'durable', settings: { fsync: 'off' } });
  await runMigrations(server.url);
  sql = postgres(server.url, { max: 1, onnotice: () => {} });
}, 60_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `fn` with the WAL writer stopped, then crashes Postgres and waits for its recovery. */
async function thenCrash(fn: () => Promise<void>): Promise<void> {
  const walWriter = async () =>
    (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'`.catch(() => []))[0]?.pid;
  const pid = (await walWriter())!;
  process.kill(pid, 'SIGSTOP');
  try {
    await fn();
  } catch (error) {
    process.kill(pid, 'SIGCONT');
    throw error;
  }
  process.kill(pid, 'SIGKILL');
  await waitFor(async () => ((await walWriter()) ?? pid) !== pid, 'Postgres to recover from the crash', 60_000);
}

/** A pool like `sql` whose flush statement waits for `gate`, as a creator paused between its commit and its flush. */
function stallingFlush(): { stalling: postgres.Sql; gate: ReturnType<typeof deferred<void>>; flushing: () => boolean } {
  const gate = deferred();
  let flushing = false;
  const stalling = new Proxy(sql, {
    apply(target, self, args: Parameters<postgres.Sql>) {
      const text = (args[0] as TemplateStringsArray).raw?.join('') ?? '';
      if (!text.includes("'flush'")) return Reflect.apply(target, self, args);
      flushing = true;
      return gate.promise.then(() => Reflect.apply(target, self, args));
    },
  });
  return { stalling, gate, flushing: () => flushing };
}

const exists = async (ids: string[]) =>
  (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE id = ANY(${ids}::text[])`)[0]!.n;

it('the crash takes back a commit that was not flushed (what the next tests rely on)', async () => {
  await thenCrash(async () => {
    await sql.begin(async (tx) => {
      await tx`SET LOCAL synchronous_commit = off`;
      await tx`INSERT INTO taiat_jobs (id, job_type, name) VALUES ('unflushed', 'task', 'x')`;
    });
    expect(await exists(['unflushed'])).toBe(1); // visible before the crash
  });
  expect(await exists(['unflushed'])).toBe(0);
}, 90_000);

it('jobs are durable when createJob and createJobs return (one job, a graph, a streamed call)', async () => {
  const jobs = await JobManager.connect({ databaseUrl: server.url });
  try {
    const created: string[][] = [];
    await thenCrash(async () => {
      created.push([(await jobs.createJob({ jobType: 'task', name: 'one' })).id]);
      created.push((await jobs.createJobs([
        { id: 'g-a', jobType: 'task', name: 'a' },
        { id: 'g-b', jobType: 'task', name: 'b', dependencies: ['g-a'] },
      ])).map((j) => j.id));
      created.push((await jobs.createJobs(Array.from({ length: 2_001 }, (_, i) => ({ jobType: 'task', name: `m${i}` })))).map((j) => j.id));
    });
    const [one, graph, many] = created as [string[], string[], string[]];
    expect(await exists(one)).toBe(1);
    expect(await exists(graph)).toBe(2);
    expect(await exists(many)).toBe(2_001);
  } finally {
    await jobs.close();
  }
}, 90_000);

it("a claim's durable commit also makes durable the job it claimed", async () => {
  await thenCrash(async () => {
    await sql.begin(async (tx) => {
      await tx`SET LOCAL synchronous_commit = off`;
      await tx`INSERT INTO taiat_jobs (id, job_type, name, queue) VALUES ('claimed-early', 'task', 'x', 'early')`;
    });
    const claimer = postgres(server.url, { max: 1, onnotice: () => {} });
    try {
      const claimed = await claimJobs(claimer, schemaNames(), 'w-durable', ['early'], 10, 30);
      expect(claimed.map((j) => j.id)).toEqual(['claimed-early']);
    } finally {
      await claimer.end({ timeout: 1 });
    }
  });
  const [row] = await sql`SELECT status, lease_owner FROM taiat_jobs WHERE id = 'claimed-early'`;
  expect(row).toEqual({ status: 'running', lease_owner: 'w-durable' });
}, 90_000);

it('a crash between the commit and the flush is reported as an error, not as jobs created', async () => {
  // The creator stalls (a pause of its process, say) between its two round trips while Postgres
  // crashes and recovers: the flush then runs on the recovered server, where the jobs are gone.
  const { stalling, gate, flushing } = stallingFlush();
  let outcome: Promise<unknown> | undefined;
  await thenCrash(async () => {
    outcome = createJobs(stalling, schemaNames(), [validateNewJob({ id: 'stalled', jobType: 'task', name: 'x' })]);
    outcome.catch(() => {});
    await waitFor(flushing, 'the create to reach its flush');
  });
  gate.resolve();
  await expect(outcome).rejects.toMatchObject({ code: 'TAIAT_DATABASE_UNAVAILABLE', message: /none of them was created/ });
  expect(await exists(['stalled'])).toBe(0);
}, 90_000);

it('a duplicate-id error is reported only once the duplicate is durable', async () => {
  // Creator A's jobs are committed but its flush is held; creator B meets A's id. B's error must
  // stand after a crash: the row it names must have been made durable first.
  const { stalling, gate, flushing } = stallingFlush();
  const other = postgres(server.url, { max: 1, onnotice: () => {} });
  await commitsEarly(other); // its probe, a flush of its own, is done before A's commit
  let first: Promise<unknown> | undefined;
  try {
    await thenCrash(async () => {
      first = createJobs(stalling, schemaNames(), [validateNewJob({ id: 'contested', jobType: 'task', name: 'a' })]);
      first.catch(() => {});
      await waitFor(flushing, 'the first create to reach its flush');
      await expect(createJobs(other, schemaNames(), [validateNewJob({ id: 'contested', jobType: 'task', name: 'b' })]))
        .rejects.toMatchObject({ code: 'TAIAT_DUPLICATE_JOB_ID' });
    });
  } finally {
    gate.resolve();
    await other.end({ timeout: 1 });
  }
  expect(await exists(['contested'])).toBe(1);
}, 90_000);

it('close() lets a create in flight finish its flush', async () => {
  const jobs = await JobManager.connect({ databaseUrl: server.url });
  const creating = jobs.createJob({ jobType: 'task', name: 'closing' });
  await jobs.close();
  const job = await creating;
  expect(await exists([job.id])).toBe(1);
});
