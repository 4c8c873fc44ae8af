import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { JobManager, ValidationError, type NewJob } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';

const harness = useWorkerHarness();
const { db } = harness;

const keyed = (key: string, extra: Partial<NewJob> = {}): NewJob => ({ jobType: 'task', name: `job of ${key}`, uniqueKey: key, ...extra });
const live = async (key: string) => (await db.sql`SELECT id, status FROM taiat_jobs WHERE unique_key = ${key} ORDER BY created_at`);
const claim = (id: string) => db.sql`UPDATE taiat_jobs SET status = 'running', lease_owner = 'w', lease_expires_at = now() + interval '1 minute', attempts = 1,
  unique_slot = CASE WHEN unique_while = 'pending' THEN NULL ELSE unique_slot END WHERE id = ${id}`;

/**
 * A creator on a connection of its own that inserts `rows` (holding their keys) and commits only
 * when released: `withRacer` starts `create` while the racer holds its keys, lets
 * the racer commit 300 ms later, and returns what `create` returned.
 */
async function withRacer<T>(rows: { id: string; key: string }[], create: () => Promise<T>): Promise<T> {
  const other = postgres(db.url, { max: 1, onnotice: () => {} });
  let inserted!: () => void;
  let commit!: () => void;
  const ready = new Promise<void>((r) => (inserted = r));
  const gate = new Promise<void>((r) => (commit = r));
  const racer = other.begin(async (tx) => {
    for (const { id, key } of rows) {
      await tx`INSERT INTO taiat_jobs (id, job_type, name, unique_key, unique_while, unique_slot) VALUES (${id}, 'task', 'racer', ${key}, 'pending', ${key})`;
    }
    inserted();
    await gate;
  });
  try {
    await ready;
    // Its insert waits for the racer's transaction, and its snapshot predates the racer's commit.
    const mine = create();
    await new Promise((r) => setTimeout(r, 300));
    commit();
    await racer;
    return await mine;
  } finally {
    commit();
    await other.end();
  }
}

describe('unique jobs', () => {
  it('while pending (the default): a second create returns the pending job; once it started, a new one is created', async () => {
    const first = await harness.jobs.createJob(keyed('report:1', { payload: { v: 1 } }));
    expect(first.deduplicated).toBeUndefined();
    const again = await harness.jobs.createJob(keyed('report:1', { payload: { v: 2 } }));
    expect(again).toMatchObject({ id: first.id, deduplicated: true, payload: { v: 1 }, uniqueKey: 'report:1' });
    // The holder as getJob reads it, field for field (its timestamps and numbers included).
    expect(again).toEqual({ ...(await harness.jobs.getJob(first.id)), deduplicated: true });
    await claim(first.id);
    const next = await harness.jobs.createJob(keyed('report:1'));
    expect(next.id).not.toBe(first.id);
    expect(next.deduplicated).toBeUndefined();
    expect((await live('report:1')).map((r) => r.status)).toEqual(['running', 'pending']);
  });

  it('while active: the key is held while the job runs, and free once it finished', async () => {
    const first = await harness.jobs.createJob(keyed('sync', { uniqueWhile: 'active', timeoutSeconds: 1.5, retryDelaySeconds: 2, priority: 'urgent' }));
    await claim(first.id);
    const held = await harness.jobs.createJob(keyed('sync', { uniqueWhile: 'active' }));
    expect(held).toMatchObject({ id: first.id, deduplicated: true, status: 'running' });
    expect(held).toEqual({ ...(await harness.jobs.getJob(first.id)), deduplicated: true });
    await harness.jobs.cancelJob(first.id); // running: only asked to stop; finish it as a worker would
    await db.sql`DELETE FROM taiat_jobs WHERE id = ${first.id}`;
    const after = await harness.jobs.createJob(keyed('sync', { uniqueWhile: 'active' }));
    expect(after.deduplicated).toBeUndefined();
  });

  it('for a period: at most one job per key in the period, finished or not; after it, a new one', async () => {
    const hourly = { uniqueWhile: 'period', uniquePeriodSeconds: 3600 } as const;
    const first = await harness.jobs.createJob(keyed('digest', hourly));
    await db.sql`DELETE FROM taiat_jobs WHERE id = ${first.id}`; // as if it ran long ago ...
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status, unique_key) VALUES (${first.id}, ${first.id}, 'task', 'done', 'completed', 'digest')`;
    expect(await harness.jobs.createJob(keyed('digest', hourly))).toMatchObject({ id: first.id, deduplicated: true, status: 'completed', location: 'history' });
    await db.sql`UPDATE taiat_unique_keys SET until = now() - interval '1 second' WHERE unique_key = 'digest'`;
    const later = await harness.jobs.createJob(keyed('digest', hourly));
    expect(later.deduplicated).toBeUndefined();
    expect(later.id).not.toBe(first.id);
  });

  it('replace: a pending holder takes the new payload and run time (debounce); a running one is left as it is', async () => {
    const first = await harness.jobs.createJob(keyed('debounce', { payload: { n: 1 }, runAt: new Date(Date.now() + 60_000) }));
    const soon = new Date(Date.now() + 5_000);
    const replaced = await harness.jobs.createJob(keyed('debounce', { payload: { n: 2 }, runAt: soon, uniqueMode: 'replace' }));
    expect(replaced).toMatchObject({ id: first.id, deduplicated: true, payload: { n: 2 } });
    expect(replaced.runAt.getTime()).toBe(soon.getTime());
    const running = await harness.jobs.createJob(keyed('debounce-run', { uniqueWhile: 'active' }));
    await claim(running.id);
    const kept = await harness.jobs.createJob(keyed('debounce-run', { uniqueWhile: 'active', uniqueMode: 'replace', payload: { n: 9 } }));
    expect(kept).toMatchObject({ id: running.id, deduplicated: true, payload: {} });
  });

  it('createJobs marks which jobs were deduplicated, including a key twice in one call', async () => {
    const existing = await harness.jobs.createJob(keyed('k-1'));
    const created = await harness.jobs.createJobs([keyed('k-1'), keyed('k-2'), { jobType: 'task', name: 'plain' }, keyed('k-2')]);
    expect(created.map((j) => [j.uniqueKey, j.deduplicated ?? false])).toEqual([['k-1', true], ['k-2', false], [null, false], ['k-2', true]]);
    expect(created[0]!.id).toBe(existing.id);
    expect(created[3]!.id).toBe(created[1]!.id);
    expect(await live('k-2')).toHaveLength(1);
  });

  it('twenty creators of one key at once, on connections of their own, create exactly one job', async () => {
    const managers = await Promise.all(Array.from({ length: 20 }, () => JobManager.connect({ databaseUrl: db.url, maxConnections: 1 })));
    try {
      const results = await Promise.all(managers.map((m) => m.createJob(keyed('race'))));
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(results.filter((r) => !r.deduplicated)).toHaveLength(1);
      expect(await live('race')).toHaveLength(1);
      const periodic = await Promise.all(managers.map((m) => m.createJob(keyed('race-period', { uniqueWhile: 'period', uniquePeriodSeconds: 60 }))));
      expect(new Set(periodic.map((r) => r.id)).size).toBe(1);
      expect(await live('race-period')).toHaveLength(1);
    } finally {
      await Promise.all(managers.map((m) => m.close()));
    }
  });

  it('answers a key taken by a creator that commits while the create waits on it with that creator\'s job', async () => {
    const mine = await withRacer([{ id: 'racer', key: 'race' }], () => harness.jobs.createJob(keyed('race')));
    expect(mine).toMatchObject({ id: 'racer', deduplicated: true, uniqueKey: 'race' });
    expect((await live('race')).map((r) => r.id)).toEqual(['racer']);
  });

  it('a call some of whose keys a racer takes meanwhile: the others created, those answered with the racer\'s jobs', async () => {
    const [a, b, c, d, a2] = await withRacer([{ id: 'racer-b', key: 'mix-b' }, { id: 'racer-d', key: 'mix-d' }],
      () => harness.jobs.createJobs(['mix-a', 'mix-b', 'mix-c', 'mix-d', 'mix-a'].map((k) => keyed(k))));
    expect([a, c].map((j) => j!.deduplicated)).toEqual([undefined, undefined]);
    expect(b).toMatchObject({ id: 'racer-b', deduplicated: true, uniqueKey: 'mix-b' });
    expect(d).toMatchObject({ id: 'racer-d', deduplicated: true, uniqueKey: 'mix-d' });
    expect(a2).toMatchObject({ id: a!.id, deduplicated: true });
    const rows = await db.sql`SELECT unique_key, id FROM taiat_jobs WHERE unique_key LIKE 'mix-%' ORDER BY unique_key`;
    expect(rows.map((r) => [r.unique_key, r.id])).toEqual([['mix-a', a!.id], ['mix-b', 'racer-b'], ['mix-c', c!.id], ['mix-d', 'racer-d']]);
  });

  it('shows the key in the job, its history, and the audit view', async () => {
    const job = await harness.jobs.createJob(keyed('visible', { jobType: 'agent', payload: { agent_name: 'noop' } }));
    await harness.startWorker({ agents: { noop: () => null } });
    const done = await harness.finished(job.id);
    expect(done.uniqueKey).toBe('visible');
    const [row] = await db.sql`SELECT unique_key FROM taiat_all_jobs WHERE id = ${job.id}`;
    expect(row!.unique_key).toBe('visible');
    expect((await harness.jobs.explain(job.id))!.job.uniqueKey).toBe('visible');
  });

  it('refuses unique fields that do not go together, naming the field, and writes nothing', async () => {
    const cases: [NewJob, string, RegExp][] = [
      [{ jobType: 't', name: 'x', uniqueMode: 'replace' }, 'uniqueMode', /needs a uniqueKey/],
      [keyed('x', { id: 'mine' }), 'id', /known by its key and takes no id/],
      [keyed('x', { uniqueWhile: 'period' }), 'uniquePeriodSeconds', /needs uniquePeriodSeconds/],
      [keyed('x', { uniquePeriodSeconds: 5 }), 'uniquePeriodSeconds', /goes with uniqueWhile 'period'/],
      [keyed('x', { uniqueWhile: 'period', uniquePeriodSeconds: 5, uniqueMode: 'replace' }), 'uniqueMode', /goes with uniqueWhile 'pending' or 'active'/],
      [keyed('x', { uniqueWhile: 'forever' as never }), 'uniqueWhile', /must be one of pending, active, period/],
      [keyed(''), 'uniqueKey', /must not be empty/],
    ];
    for (const [input, field, message] of cases) {
      const error = await harness.jobs.createJob(input).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field, message: expect.stringMatching(message) });
    }
    expect((await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`)[0]!.n).toBe(0);
  });

  it('in the application\'s transaction and from SQL, with the same keys', async () => {
    const inTx = await db.sql.begin(async (tx) => [
      await harness.jobs.createJob(keyed('tx-key'), { tx }),
      await harness.jobs.createJob(keyed('tx-key'), { tx }),
    ]);
    expect(inTx[1]).toMatchObject({ id: inTx[0]!.id, deduplicated: true });
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [a] = await sql`SELECT taiat_create_unique_job('task', 'from sql', 'tx-key') AS id`;
      expect(a!.id).toBe(inTx[0]!.id);
      const [b] = await sql`SELECT taiat_create_unique_job('task', 'from sql', 'sql-key', unique_while => 'period', unique_period_seconds => 60) AS id`;
      const [c] = await sql`SELECT taiat_create_unique_job('task', 'again', 'sql-key', unique_while => 'period', unique_period_seconds => 60) AS id`;
      expect(c!.id).toBe(b!.id);
    } finally {
      await sql.end();
    }
  });
});
