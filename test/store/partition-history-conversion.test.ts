import { describe, expect, it } from 'vitest';
import { HistoryPartitionError } from '../../src/index.js';
import { openConnection } from '../../src/db/connection.js';
import { dropExpiringBound, partitionHistory, readHistoryPartitioning, schemaNames } from '../../src/store/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';

// Issue 22, the review of the conversion: what a failed or refused conversion leaves behind, and
// what a period change leaves uncovered. In order: the history stays plain until the fourth test.

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;
const t = schemaNames();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const boundChecks = async () => (await db.sql<{ n: number }[]>`
  SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'taiat_job_history_unpartitioned_bound'`)[0]!.n;

describe('converting history to partitions', () => {
  it('refuses while a materialized view or a SQL-body function depends on history, naming them, and changes nothing', async () => {
    await db.sql`CREATE MATERIALIZED VIEW hist_counts AS SELECT status, count(*) AS n FROM taiat_job_history GROUP BY status`;
    await db.sql.unsafe('CREATE FUNCTION hist_n() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM taiat_job_history; END');
    try {
      const error = await partitionHistory(db.sql, t, 'day').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HistoryPartitionError);
      expect((error as HistoryPartitionError).code).toBe('TAIAT_HISTORY_PARTITION');
      expect((error as HistoryPartitionError).dependents).toEqual(['function hist_n()', 'rule _RETURN on materialized view hist_counts']);
      expect((error as Error).message).toContain('materialized view hist_counts');
      expect(await readHistoryPartitioning(db.sql, t)).toBeNull();
      expect(await boundChecks()).toBe(0);
    } finally {
      await db.sql`DROP MATERIALIZED VIEW hist_counts`;
      await db.sql`DROP FUNCTION hist_n()`;
    }
  });

  it('drops its bound CHECK when the swap fails behind a lock, and jobs still finish', async () => {
    const other = openConnection(db.url, { max: 1 });
    let held: Promise<unknown> = Promise.resolve();
    try {
      // A long read of history, begun after the CHECK was validated: the swap's lock is not granted in time.
      const beforeSwap = () => new Promise<void>((locked) => {
        held = other.sql.begin(async (tx) => {
          await tx`SELECT count(*) FROM taiat_job_history`;
          locked();
          await sleep(800);
        });
      });
      const error = await partitionHistory(db.sql, t, 'day', { lockTimeout: '300ms', beforeSwap }).catch((e: unknown) => e);
      await held;
      expect((error as { code?: string }).code).toBe('55P03');
    } finally {
      await other.close();
    }
    expect(await readHistoryPartitioning(db.sql, t)).toBeNull();
    expect(await boundChecks()).toBe(0);
    await startWorker({ agents: { rec: () => ({ ok: true }) } });
    await harness.jobs.createJob(agentJob('after-failed-swap', 'rec'));
    expect((await finished('after-failed-swap')).status).toBe('completed');
  });

  it('workers drop a bound CHECK a dead conversion left, once its bound is near, and only then', async () => {
    const leave = (hours: number) => db.sql.unsafe(`DO $$ BEGIN EXECUTE format(
      'ALTER TABLE taiat_job_history ADD CONSTRAINT taiat_job_history_unpartitioned_bound CHECK (completed_at < %L::timestamptz) NOT VALID',
      now() + interval '${hours} hours'); END $$`);
    await leave(1);
    expect(await dropExpiringBound(db.sql, t)).toBe(true);
    expect(await boundChecks()).toBe(0);
    // A day ahead or more: a conversion may be validating it right now.
    await leave(30);
    expect(await dropExpiringBound(db.sql, t)).toBe(false);
    expect(await boundChecks()).toBe(1);
    await db.sql`ALTER TABLE taiat_job_history DROP CONSTRAINT taiat_job_history_unpartitioned_bound`;
  });

  it('recreates views on the new table with their options', async () => {
    await db.sql`CREATE VIEW hist_secure WITH (security_invoker = true, security_barrier = true) AS SELECT job_id, status FROM taiat_job_history`;
    expect(await partitionHistory(db.sql, t, 'day')).toMatchObject({ converted: true });
    const [view] = await db.sql<{ options: string[] }[]>`SELECT reloptions AS options FROM pg_class WHERE oid = 'hist_secure'::regclass`;
    expect([...view!.options].sort()).toEqual(['security_barrier=true', 'security_invoker=true']);
    const [bound] = await db.sql<{ on: string }[]>`
      SELECT DISTINCT d.refobjid::regclass::text AS on FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
       WHERE r.ev_class = 'hist_secure'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> 'hist_secure'::regclass`;
    expect(bound!.on).toBe('taiat_job_history');
  });

  it('a period changed to a longer one leaves no part of the coming periods to the default partition', async () => {
    // By day: partitions up to three days ahead; by month, the rest of this month and the next three.
    expect(await partitionHistory(db.sql, t, 'month')).toMatchObject({ converted: false, period: 'month' });
    expect((await readHistoryPartitioning(db.sql, t))!.period).toBe('month');
    const landed = (await db.sql<{ part: string }[]>`
      INSERT INTO taiat_job_history (id, job_id, job_type, name, status, completed_at)
      SELECT 'g' || n, 'g' || n, 'x', 'x', 'completed', at
        FROM generate_series(now(), date_trunc('month', now(), 'UTC') + interval '4 months' - interval '1 minute', interval '3 hours')
             WITH ORDINALITY AS s(at, n)
      RETURNING tableoid::regclass::text AS part`).map((r) => r.part);
    expect(landed.length).toBeGreaterThan(700);
    expect(landed.filter((p) => p === 'taiat_job_history_default')).toEqual([]);
  });
});
