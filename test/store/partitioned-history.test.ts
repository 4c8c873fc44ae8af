import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ValidationError, type Job } from '../../src/index.js';
import { openConnection } from '../../src/db/connection.js';
import {
  ensureHistoryPartitions, partitionHistory, pruneHistory, readDependencyResults, readHistoryPartitioning, schemaNames,
} from '../../src/store/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';
import { partitionRows, splitDefault } from '../support/partitioned-history.js';

// Issue 22: history partitioned by finish time. The tests run in order: the first converts the
// file's history (with rows), the others use it partitioned.

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;
const t = schemaNames();

const SQL_DIR = fileURLToPath(new URL('../../sql', import.meta.url));
const AUDIT_FILES = readdirSync(SQL_DIR).filter((f) => f.endsWith('.sql')).sort();

/** Every audit query's answer, and the view's, as JSON. */
async function answers(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of AUDIT_FILES) out[file] = JSON.stringify([...(await db.sql.unsafe(readFileSync(`${SQL_DIR}/${file}`, 'utf8')))]);
  out.view = JSON.stringify(await db.sql`SELECT * FROM taiat_all_jobs ORDER BY id`);
  return out;
}

/** History rows finished `daysAgo` days ago, a job each, one depending on the next. */
async function insertFinished(prefix: string, daysAgo: number[], status = 'completed') {
  await db.sql`
    INSERT INTO taiat_job_history (id, job_id, job_type, name, status, result, dependencies, error_message, started_at,
                                   completed_at, duration_seconds, created_at, attempts, payload)
    SELECT ${prefix} || i, ${prefix} || i, 'agent', ${prefix} || i, ${status}, jsonb_build_object('i', i),
           CASE WHEN i > 1 THEN jsonb_build_array(${prefix} || (i - 1)) ELSE '[]' END,
           CASE WHEN ${status} = 'failed' THEN 'broke' END,
           now() - d * interval '1 day' - interval '5 seconds', now() - d * interval '1 day', 5,
           now() - d * interval '1 day' - interval '1 minute', 1, '{"agent_name":"rec"}'
      FROM unnest(${daysAgo}::float8[]) WITH ORDINALITY AS x(d, i)`;
}

describe('partitioned history', () => {
  it('converts a history with rows, keeping every row and every answer, without building an index on it under lock', async () => {
    await insertFinished('old-', [0.1, 0.5, 1, 2, 3, 10, 20, 40]);
    await insertFinished('bad-', [0.2, 5], 'failed');
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at, cause_job_id, error_message)
                 VALUES ('cx-1', 'cx-1', 'agent', 'cx-1', 'cancelled', now() - interval '1 hour', 'bad-1', 'dependency bad-1 failed')`;
    const before = await answers();
    const indexOids = () => db.sql<{ oid: number; valid: boolean }[]>`
      SELECT indexrelid::int AS oid, indisvalid AS valid FROM pg_index WHERE indrelid = 'taiat_job_history'::regclass ORDER BY 1`;
    let beforeSwap: { oid: number; valid: boolean }[] = [];
    let boundValidated = false;
    const done = await partitionHistory(db.sql, t, 'day', {
      beforeSwap: async () => {
        beforeSwap = await indexOids();
        [{ ok: boundValidated }] = await db.sql<[{ ok: boolean }]>`
          SELECT convalidated AS ok FROM pg_constraint WHERE conname = 'taiat_job_history_unpartitioned_bound'`;
      },
    });
    expect(done).toMatchObject({ converted: true, period: 'day' });
    expect(await answers()).toEqual(before);
    // Every index of the former table, the job_id one among them, was built before the swap and
    // attached as it was (same relation); the bound was proven before it too.
    expect(beforeSwap.every((i) => i.valid)).toBe(true);
    expect(boundValidated).toBe(true);
    const attached = await db.sql<{ oid: number }[]>`
      SELECT indexrelid::int AS oid FROM pg_index WHERE indrelid = 'taiat_job_history_unpartitioned'::regclass ORDER BY 1`;
    expect(attached.map((i) => i.oid)).toEqual(beforeSwap.map((i) => i.oid));
    const state = (await readHistoryPartitioning(db.sql, t))!;
    expect(state.period).toBe('day');
    expect(state.partitions[0]).toMatchObject({ name: 'public.taiat_job_history_unpartitioned', from: null });
    expect(state.partitions.at(-1)).toMatchObject({ name: 'public.taiat_job_history_default', isDefault: true });
    const indexes = await db.sql<{ name: string }[]>`
      SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'taiat_job_history_unpartitioned'::regclass ORDER BY 1`;
    expect(indexes.map((i) => i.name)).toEqual([
      'taiat_job_history_unpartitioned_cause_idx', 'taiat_job_history_unpartitioned_completed_at_idx',
      'taiat_job_history_unpartitioned_created_at_idx', 'taiat_job_history_unpartitioned_dependencies_idx',
      'taiat_job_history_unpartitioned_job_id_idx', 'taiat_job_history_unpartitioned_parent_idx',
      'taiat_job_history_unpartitioned_pkey', 'taiat_job_history_unpartitioned_status_idx',
    ]);
    // Dependency results of the converted rows are found, by the job_id indexes.
    const results = await readDependencyResults(db.sql, t, [{ dependencies: ['old-1', 'old-8', 'bad-1'] } as Job]);
    expect([...results.keys()].sort()).toEqual(['old-1', 'old-8']);
    // A retry takes a failed job and its cascade out of the converted rows.
    const back = await harness.jobs.retryJob('bad-1', { dependents: true });
    expect(back.status).toBe('pending');
    expect((await harness.jobs.getJob('cx-1'))?.status).toBe('pending');
    expect((await harness.jobs.partitionHistory({ period: 'day' })).converted).toBe(false);
  });

  it('rejects a bad period, naming the field', async () => {
    const error = await harness.jobs.partitionHistory({ period: 'year' as 'day' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('options.period');
  });

  it('runs a dependency graph to completion on a partitioned history, dependents reading the results', async () => {
    await db.sql`TRUNCATE taiat_job_history`;
    await db.sql`DROP TABLE taiat_job_history_unpartitioned`;
    await splitDefault(db.sql);
    await startWorker({ maxConcurrentJobs: 4, agents: { rec: (_p, ctx) => ({ me: ctx.job.id, saw: ctx.dependencyResults }) } });
    await harness.jobs.createJobs([agentJob('a', 'rec'), agentJob('b', 'rec', ['a']), agentJob('c', 'rec', ['a']), agentJob('d', 'rec', ['b', 'c'])]);
    const d = await finished('d');
    expect(d.result).toEqual({ me: 'd', saw: { b: { me: 'b', saw: { a: { me: 'a', saw: {} } } }, c: { me: 'c', saw: { a: { me: 'a', saw: {} } } } } });
    const [where] = await db.sql<{ part: string }[]>`SELECT tableoid::regclass::text AS part FROM taiat_job_history WHERE job_id = 'd'`;
    expect(where!.part).toMatch(/^taiat_job_history_p\d{8}$/);
  });

  it('creates partitions ahead idempotently, two workers at once', async () => {
    const other = openConnection(db.url, { max: 2 });
    try {
      const before = (await partitionRows(db.sql)).map((p) => p.name);
      const runs = await Promise.all([ensureHistoryPartitions(db.sql, t, 5), ensureHistoryPartitions(other.sql, t, 5)]);
      // The two days beyond the 3 ahead were created, each once, whichever run created them.
      const made = runs.flatMap((r) => r ?? []).map((n) => n.replace(/^public\./, ''));
      expect(made.length).toBeGreaterThanOrEqual(2);
      expect(new Set(made).size).toBe(made.length);
      const names = (await partitionRows(db.sql)).map((p) => p.name);
      expect([...names].sort()).toEqual([...before, ...made].sort());
      expect(await ensureHistoryPartitions(db.sql, t, 5)).toEqual([]);
      expect((await partitionRows(db.sql)).map((p) => p.name)).toEqual(names);
      // Today's and the 5 next days', and the default.
      expect(names.filter((n) => /_p\d{8}$/.test(n)).length).toBeGreaterThanOrEqual(6);
    } finally {
      await other.close();
    }
  });

  it('keeps a job that finishes beyond the last partition (in the default one), and maintenance moves it out', async () => {
    for (const p of (await partitionRows(db.sql)).filter((p) => p.name !== 'taiat_job_history_default')) {
      await db.sql`DROP TABLE ${db.sql(p.name)}`;
    }
    const job = await harness.jobs.createJob({ id: 'late', jobType: 'agent', name: 'late', payload: { agent_name: 'rec' } });
    await harness.jobs.cancelJob(job.id);
    expect(await partitionRows(db.sql)).toEqual([{ name: 'taiat_job_history_default', rows: 1 }]);
    expect((await harness.jobs.getJob('late'))?.status).toBe('cancelled');
    await splitDefault(db.sql);
    const rows = await partitionRows(db.sql);
    expect(rows.find((p) => p.name === 'taiat_job_history_default')!.rows).toBe(0);
    expect(rows.reduce((n, p) => n + p.rows, 0)).toBe(1);
    // Retry from a partitioned history.
    expect((await harness.jobs.retryJob('late')).status).toBe('pending');
  });

  it('creates the coming periods\' partitions first, each in a transaction of its own: a past one that fails leaves them', async () => {
    for (const p of (await partitionRows(db.sql)).filter((p) => p.name !== 'taiat_job_history_default')) {
      await db.sql`DROP TABLE ${db.sql(p.name)}`;
    }
    await insertFinished('past-', [3]);
    // A table squatting the name of the partition for that day: creating it fails.
    const [{ name }] = await db.sql<[{ name: string }]>`
      SELECT 'taiat_job_history_p' || to_char((now() AT TIME ZONE 'UTC') - interval '3 days', 'YYYYMMDD') AS name`;
    await db.sql`CREATE TABLE ${db.sql(name)} (x int)`;
    try {
      expect(((await splitDefault(db.sql).catch((e: unknown) => e)) as { code?: string }).code).toBe('42P07');
      const rows = await partitionRows(db.sql);
      expect(rows.filter((p) => /_p\d{8}$/.test(p.name)).length).toBe(4); // today's and the 3 next
      expect(rows.find((p) => p.name === 'taiat_job_history_default')!.rows).toBe(1);
    } finally {
      await db.sql`DROP TABLE ${db.sql(name)}`;
    }
    // Then it, and the days between it and today (empty).
    expect(await splitDefault(db.sql)).toContain(`public.${name}`);
  });

  it('prunes by dropping expired partitions, with the unique keys of their jobs, and keeps the rest', async () => {
    await db.sql`TRUNCATE taiat_job_history`;
    await insertFinished('p-', [0.01, 1.5, 2.5, 8.5, 9.5, 20.5]);
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at) VALUES ('far', 'far', 'agent', 'far', 'completed', now() + interval '30 days')`;
    await splitDefault(db.sql);
    await db.sql`INSERT INTO taiat_unique_keys (unique_key, job_id, until) VALUES
                   ('k-old', 'p-5', now() + interval '1 day'), ('k-kept', 'p-2', now() + interval '1 day')`;
    const before = await partitionRows(db.sql);
    expect(before.filter((p) => p.rows > 0).length).toBeGreaterThanOrEqual(6);
    const conn = openConnection(db.url, { max: 2 });
    try {
      expect(await pruneHistory(conn, t, 7, 5_000)).toBe(3);
    } finally {
      await conn.close();
    }
    const left = await db.sql<{ job_id: string }[]>`SELECT job_id FROM taiat_job_history ORDER BY job_id`;
    expect(left.map((r) => r.job_id)).toEqual(['far', 'p-1', 'p-2', 'p-3']);
    const keys = await db.sql<{ unique_key: string }[]>`SELECT unique_key FROM taiat_unique_keys ORDER BY 1`;
    expect(keys.map((k) => k.unique_key)).toEqual(['k-kept']);
    // The expired partitions are gone, and only they.
    const after = (await partitionRows(db.sql)).map((p) => p.name);
    expect(before.length - after.length).toBeGreaterThanOrEqual(2);
    expect(after).toContain('taiat_job_history_default');
  });

  it('deletes in batches from an expired partition it cannot drop, and says which', async () => {
    await db.sql`TRUNCATE taiat_job_history`;
    await insertFinished('u-', [10.5, 10.5, 0.01]);
    await splitDefault(db.sql);
    const [{ part }] = await db.sql<[{ part: string }]>`SELECT tableoid::regclass::text AS part FROM taiat_job_history WHERE job_id = 'u-1'`;
    const conn = openConnection(db.url, { max: 2 });
    const reader = openConnection(db.url, { max: 1 });
    const told: [string[], string][] = [];
    try {
      // A long read of the partition: its DROP is not granted within the lock timeout (2 s).
      let locked!: () => void;
      const holding = new Promise<void>((resolve) => (locked = resolve));
      const held = reader.sql.begin(async (tx) => {
        await tx`SELECT count(*) FROM ${tx(part)}`;
        locked();
        await new Promise((resolve) => setTimeout(resolve, 3_000));
      });
      await holding;
      expect(await pruneHistory(conn, t, 7, 5_000, () => {}, (names, code) => told.push([names, code]))).toBe(2);
      await held;
    } finally {
      await Promise.all([conn.close(), reader.close()]);
    }
    // Told once: the partition, and the expired ones after it (the empty days up to the cutoff),
    // left for the batches too once one drop timed out.
    expect(told.length).toBe(1);
    expect(told[0]![0][0]).toBe(`public.${part}`);
    expect(told[0]![1]).toBe('55P03');
    const left = await db.sql<{ job_id: string }[]>`SELECT job_id FROM taiat_job_history ORDER BY job_id`;
    expect(left.map((r) => r.job_id)).toEqual(['u-3']);
    expect((await partitionRows(db.sql)).map((p) => p.name)).toContain(part);
  }, 20_000);
});

