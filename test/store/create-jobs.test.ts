import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobManager, TaiatError, type NewJob } from '../../src/index.js';
import { openConnection } from '../../src/db/connection.js';
import { DEFAULT_LIMITS, validateJobRange } from '../../src/jobs/validation.js';
import { copyJobs } from '../../src/store/copy-jobs.js';
import { schemaNames } from '../../src/store/index.js';
import { useTestDatabase } from '../support/database.js';
import { snapshot as takeSnapshot } from '../support/harness.js';

const db = useTestDatabase();
let jobs: JobManager;
beforeAll(async () => {
  jobs = await JobManager.connect({ databaseUrl: db.url });
});
afterAll(async () => {
  await jobs.close();
});

const snapshot = () => takeSnapshot(db.sql);

/** Runs `fn` while a trigger refuses to store a job of this name. */
async function refusingName(name: string, fn: () => Promise<void>): Promise<void> {
  await db.sql`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF NEW.name = TG_ARGV[0] THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`;
  // DDL takes no parameters: the name is quoted as a literal.
  await db.sql.unsafe(`CREATE TRIGGER test_refuse BEFORE INSERT ON taiat_jobs FOR EACH ROW EXECUTE FUNCTION test_refuse('${name.replace(/'/g, "''")}')`);
  try {
    await fn();
  } finally {
    await db.sql`DROP TRIGGER test_refuse ON taiat_jobs`;
    await db.sql`DROP FUNCTION test_refuse()`;
    await db.sql`DELETE FROM taiat_jobs WHERE job_type = 'noop'`;
  }
}

const agent = (name: string, extra: Partial<NewJob> = {}): NewJob => ({
  jobType: 'agent',
  name,
  payload: { agent_name: 'worker', parameters: { n: 1 } },
  ...extra,
});

describe('createJob', () => {
  it('stores a job with defaults and returns it typed', async () => {
    const job = await jobs.createJob(agent('data_processing', { description: 'Process data' }));
    expect(job).toMatchObject({
      jobType: 'agent',
      name: 'data_processing',
      description: 'Process data',
      payload: { agent_name: 'worker', parameters: { n: 1 } },
      dependencies: [],
      status: 'pending',
      priority: 2,
      queue: 'default',
      maxRetries: 3,
      retryCount: 0,
      attempts: 0,
      location: 'live',
    });
    expect(job.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(job.createdAt).toBeInstanceOf(Date);
    expect(job.runAt.getTime()).toBe(job.createdAt.getTime());
    const [row] = await db.sql`SELECT pending_dependencies, has_dependents FROM taiat_jobs WHERE id = ${job.id}`;
    expect(row).toEqual({ pending_dependencies: 0, has_dependents: false });
  });

  it('accepts named and integer priorities, a queue, runAt, timeouts and a chosen id', async () => {
    const runAt = new Date(Date.now() + 3600_000);
    const job = await jobs.createJob({
      jobType: 'query', name: 'q', payload: { query: 'trends?' }, priority: 'urgent', queue: 'reports',
      runAt, id: 'my-id-1', maxRetries: 0, timeoutSeconds: 1.5, retryDelaySeconds: 0.25,
    });
    expect(job).toMatchObject({ id: 'my-id-1', priority: 4, queue: 'reports', maxRetries: 0, timeoutSeconds: 1.5, retryDelaySeconds: 0.25 });
    expect(job.runAt.toISOString()).toBe(runAt.toISOString());
    expect((await jobs.createJob(agent('p', { priority: 17 }))).priority).toBe(17);
    expect((await jobs.createJob({ jobType: 'custom.type', name: 'c' })).jobType).toBe('custom.type');
  });

  it('counts an unfinished dependency and satisfies a completed one', async () => {
    const a = await jobs.createJob(agent('a'));
    const b = await jobs.createJob(agent('b', { dependencies: [a.id, a.id] }));
    expect(b.dependencies).toEqual([a.id]);
    const [row] = await db.sql`SELECT pending_dependencies FROM taiat_jobs WHERE id = ${b.id}`;
    expect(row!.pending_dependencies).toBe(1);
    const [flag] = await db.sql`SELECT has_dependents FROM taiat_jobs WHERE id = ${a.id}`;
    expect(flag!.has_dependents).toBe(true);

    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status) VALUES ('done-1', 'done-1', 'agent', 'done', 'completed')`;
    const c = await jobs.createJob(agent('c', { dependencies: ['done-1'] }));
    const [crow] = await db.sql`SELECT pending_dependencies FROM taiat_jobs WHERE id = ${c.id}`;
    expect(crow!.pending_dependencies).toBe(0);
    expect((await jobs.getReadyJobs({ limit: 1000 })).map((j) => j.id)).toContain(c.id);
  });
});

describe('createJobs', () => {
  it('creates a graph in one call, in the order given, with in-call dependencies', async () => {
    const created = await jobs.createJobs([
      agent('extract', { id: 'g-extract' }),
      agent('transform', { id: 'g-transform', dependencies: ['g-extract'] }),
      agent('load', { id: 'g-load', dependencies: ['g-transform', 'g-extract'] }),
    ]);
    expect(created.map((j) => j.id)).toEqual(['g-extract', 'g-transform', 'g-load']);
    const rows = await db.sql`SELECT id, pending_dependencies, has_dependents FROM taiat_jobs WHERE id LIKE 'g-%' ORDER BY id`;
    expect(rows).toEqual([
      { id: 'g-extract', pending_dependencies: 0, has_dependents: true },
      { id: 'g-load', pending_dependencies: 2, has_dependents: false },
      { id: 'g-transform', pending_dependencies: 1, has_dependents: true },
    ]);
  });

  it('creates 20,000 jobs in one call with time-ordered generated ids', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({ jobType: 'noop', name: `n${i}` }));
    const created = await jobs.createJobs(many);
    expect(created).toHaveLength(20_000);
    const ids = created.map((j) => j.id);
    expect([...ids].sort()).toEqual(ids);
    const [row] = await db.sql`SELECT count(*)::int AS n, count(DISTINCT created_at)::int AS times FROM taiat_jobs WHERE job_type = 'noop'`;
    expect(row).toEqual({ n: 20_000, times: 1 }); // one transaction, however many statements
    expect(created.map((j) => j.name)).toEqual(many.map((j) => j.name));
    await db.sql`DELETE FROM taiat_jobs WHERE job_type = 'noop'`;
  });

  it('streams a large call of independent jobs, yet writes nothing when a late one is bad', async () => {
    // Chunks are validated while earlier ones are being inserted: a bad job after several sent
    // chunks must still roll all of them back.
    const many: NewJob[] = Array.from({ length: 9_000 }, (_, i) => ({ jobType: 'noop', name: `n${i}` }));
    many[8_500] = { jobType: 'noop', name: '' };
    const [before] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`;
    const error = await jobs.createJobs(many).catch((e: unknown) => e);
    expect((error as TaiatError).code).toBe('TAIAT_INVALID_INPUT');
    expect((error as Error).message).toBe('jobs[8500].name: name must not be empty');
    const [after] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`;
    expect(after!.n).toBe(before!.n);
    // The connection is usable afterwards (the transaction ended).
    expect(await jobs.createJobs(many.slice(0, 3))).toHaveLength(3);
    await db.sql`DELETE FROM taiat_jobs WHERE job_type = 'noop'`;
  });

  it('streams a large call with every kind of field intact (tabs, newlines, backslashes, unicode, runAt, timeouts)', async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const odd = 'tab\there\nnew\\line\rcr \\N é😀 "q"';
    const many: NewJob[] = Array.from({ length: 2_500 }, (_, i) => ({
      jobType: i % 2 ? 'noop' : 'noop.odd\\type', name: i % 3 ? `n${i}` : odd, description: i % 5 ? null : odd,
      payload: { i, text: odd, nested: { list: [odd, 1.5, null, true] } },
      priority: i % 4 ? 'high' : 7, maxRetries: i % 6, queue: i % 7 ? 'default' : 'q\\1',
      ...(i % 8 ? {} : { runAt }), ...(i % 9 ? {} : { timeoutSeconds: 1.5, retryDelaySeconds: 0.25 }),
    }));
    const created = await jobs.createJobs(many);
    for (const i of [0, 1, 3, 5, 7, 8, 9, 2_499]) {
      const stored = await jobs.getJob(created[i]!.id);
      expect(stored).toEqual(created[i]);
      expect(stored).toMatchObject({ name: many[i]!.name, payload: many[i]!.payload, queue: many[i]!.queue });
    }
    expect(created[8]!.runAt.toISOString()).toBe(runAt.toISOString());
    expect(created[1]!.runAt.getTime()).toBe(created[1]!.createdAt.getTime());
    await db.sql`DELETE FROM taiat_jobs WHERE job_type IN ('noop', ${'noop.odd\\type'})`;
  });

  it('streams a large call, and a bad job whose error echoes 20 kB of input is reported as such, the pool still usable', async () => {
    // Postgres drops a connection whose copy is aborted with a reason over ~10 kB.
    const single = await JobManager.connect({ databaseUrl: db.url, maxConnections: 1 });
    try {
      const many: NewJob[] = Array.from({ length: 6_000 }, (_, i) => ({ jobType: 'noop', name: `n${i}` }));
      many[5_000] = { jobType: 'noop', name: 'x', priority: 'p'.repeat(20_000) as NewJob['priority'] };
      const error = await single.createJobs(many).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'TAIAT_INVALID_INPUT' });
      expect((error as Error).message).toMatch(/^jobs\[5000\]\.priority/);
      expect(await single.createJob({ jobType: 'noop', name: 'after' })).toMatchObject({ status: 'pending' });
    } finally {
      await single.close();
      await db.sql`DELETE FROM taiat_jobs WHERE job_type = 'noop'`;
    }
  });

  it('stops streaming soon after the database refuses a row, instead of sending the whole call', async () => {
    await refusingName('early', async () => {
      const many: NewJob[] = Array.from({ length: 100_000 }, (_, i) => ({ jobType: 'noop', name: i === 3_000 ? 'early' : `n${i}` }));
      let validated = 0;
      const error = await copyJobs(db.sql, schemaNames(), many.length, (from, to) => {
        validated += to - from;
        return validateJobRange(many, from, to, DEFAULT_LIMITS);
      }).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/refused by test trigger/);
      expect(validated).toBeLessThan(50_000); // of 100,000
    });
  });

  it('streams a large call, and a chunk the database refuses rolls back the chunks before it', async () => {
    await refusingName('boom', async () => {
      const many: NewJob[] = Array.from({ length: 9_000 }, (_, i) => ({ jobType: 'noop', name: i === 2_500 ? 'boom' : `n${i}` }));
      const [before] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`;
      await expect(jobs.createJobs(many)).rejects.toThrow(/refused by test trigger/);
      const [after] = await db.sql`SELECT count(*)::int AS n FROM taiat_jobs`;
      expect(after!.n).toBe(before!.n);
      expect(await jobs.createJobs(many.slice(0, 3))).toHaveLength(3);
    });
  });

  it('accepts an empty list, without a round trip', async () => {
    expect(await jobs.createJobs([])).toEqual([]);
    // A manager whose database is unreachable: an empty create never asks it anything.
    const nowhere = JobManager.fromConnection(openConnection('postgres://taiat@127.0.0.1:1/none', { connectTimeout: 1 }));
    expect(await nowhere.createJobs([])).toEqual([]);
    await nowhere.close();
  });
});

describe('concurrencyKey', () => {
  const keyOf = async (id: string) => (await db.sql<{ concurrency_key: string | null }[]>`
    SELECT concurrency_key FROM taiat_all_jobs WHERE id = ${id}`)[0]!.concurrency_key;

  it('createJob stores it and getJob reads it back; a job without one has null', async () => {
    const job = await jobs.createJob(agent('tenant-job', { concurrencyKey: 'tenant-7' }));
    expect(job.concurrencyKey).toBe('tenant-7');
    expect(await jobs.getJob(job.id)).toEqual(job);
    expect(await keyOf(job.id)).toBe('tenant-7');
    const plain = await jobs.createJob(agent('no-key'));
    expect(plain.concurrencyKey).toBeNull();
    expect(await jobs.getJob(plain.id)).toEqual(plain);
  });

  it('createJobs keeps each job\'s key in a graph, beside unique keys and chosen ids', async () => {
    const created = await jobs.createJobs([
      agent('ck-a', { id: 'ck-a', concurrencyKey: 'tenant-1' }),
      agent('ck-b', { id: 'ck-b', dependencies: ['ck-a'] }),
      agent('ck-c', { uniqueKey: 'ck-unique', concurrencyKey: 'tenant-2' }),
    ]);
    expect(created.map((j) => j.concurrencyKey)).toEqual(['tenant-1', null, 'tenant-2']);
    for (const job of created) expect(await jobs.getJob(job.id)).toEqual(job);
    // Independent jobs, one statement, a key on some only.
    const flat = await jobs.createJobs([agent('ck-d'), agent('ck-e', { concurrencyKey: 'tenant-3' })]);
    expect([await keyOf(flat[0]!.id), await keyOf(flat[1]!.id)]).toEqual([null, 'tenant-3']);
  });

  it('streams keys through COPY (more than 2,000 independent jobs), escaped, even when only a late job has one', async () => {
    const odd = 'tenant\t1\\n\n😀';
    const many: NewJob[] = Array.from({ length: 2_500 }, (_, i) => ({
      jobType: 'noop', name: `ck${i}`, ...(i % 3 ? {} : { concurrencyKey: i % 2 ? odd : `tenant-${i % 10}` }),
    }));
    const created = await jobs.createJobs(many);
    for (const i of [0, 1, 3, 6, 9, 2_499]) {
      expect(created[i]!.concurrencyKey).toBe(many[i]!.concurrencyKey ?? null);
      expect(await jobs.getJob(created[i]!.id)).toEqual(created[i]);
    }
    const [row] = await db.sql`SELECT count(concurrency_key)::int AS keyed FROM taiat_jobs WHERE job_type = 'noop'`;
    expect(row!.keyed).toBe(many.filter((j) => j.concurrencyKey !== undefined).length);
    await db.sql`DELETE FROM taiat_jobs WHERE job_type = 'noop'`;

    const late: NewJob[] = Array.from({ length: 2_500 }, (_, i) => ({ jobType: 'noop', name: `late${i}` }));
    late[2_400] = { ...late[2_400]!, concurrencyKey: 'the-only-one' };
    const createdLate = await jobs.createJobs(late);
    expect(await keyOf(createdLate[2_400]!.id)).toBe('the-only-one');
    expect(await keyOf(createdLate[0]!.id)).toBeNull();
    await db.sql`DELETE FROM taiat_jobs WHERE job_type = 'noop'`;
  });

  it('goes to history with the job and comes back with a retry', async () => {
    const job = await jobs.createJob(agent('ck-history', { concurrencyKey: 'tenant-h' }));
    await jobs.cancelJob(job.id);
    const [history] = await db.sql`SELECT concurrency_key FROM taiat_job_history WHERE job_id = ${job.id}`;
    expect(history!.concurrency_key).toBe('tenant-h');
    expect(await jobs.getJob(job.id)).toMatchObject({ location: 'history', concurrencyKey: 'tenant-h' });
    await jobs.retryJob(job.id);
    expect(await jobs.getJob(job.id)).toMatchObject({ location: 'live', status: 'pending', concurrencyKey: 'tenant-h' });
  });

  it('refuses a key that is too long, empty or not a string, naming the field, and writes nothing', async () => {
    const before = await snapshot();
    for (const [bad, reason] of [
      ['x'.repeat(201), 'concurrencyKey must be at most 200 characters'],
      ['', 'concurrencyKey must not be empty'],
      [42, 'concurrencyKey must be a string'],
    ] as const) {
      await expect(jobs.createJob(agent('bad', { concurrencyKey: bad as string }))).rejects.toMatchObject({
        code: 'TAIAT_INVALID_INPUT', field: 'concurrencyKey', message: `concurrencyKey: ${reason}`,
      });
      await expect(jobs.createJobs([agent('ok'), agent('bad', { concurrencyKey: bad as string })])).rejects.toMatchObject({
        field: 'jobs[1].concurrencyKey', message: `jobs[1].concurrencyKey: ${reason}`,
      });
    }
    // Through COPY too: the bad job in a later chunk.
    const many: NewJob[] = Array.from({ length: 2_500 }, (_, i) => ({ jobType: 'noop', name: `n${i}`, concurrencyKey: 'k' }));
    many[2_200] = { ...many[2_200]!, concurrencyKey: 'x'.repeat(201) };
    await expect(jobs.createJobs(many)).rejects.toMatchObject({ field: 'jobs[2200].concurrencyKey' });
    expect(await snapshot()).toBe(before);
  });
});

describe('bad input: a clear error, and nothing written', () => {
  beforeAll(async () => {
    await jobs.createJob(agent('existing', { id: 'exists-1' }));
    await db.sql`INSERT INTO taiat_job_history (id, job_id, job_type, name, status) VALUES
      ('failed-1', 'failed-1', 'agent', 'broken', 'failed'), ('cancelled-1', 'cancelled-1', 'agent', 'dropped', 'cancelled')`;
  });

  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;

  const cases: [string, unknown, string, RegExp][] = [
    ['missing name', { jobType: 'agent', payload: { agent_name: 'x' } }, 'TAIAT_INVALID_INPUT', /name: name is required/],
    ['empty name', agent(''), 'TAIAT_INVALID_INPUT', /name: name must not be empty/],
    ['missing type', { name: 'x' }, 'TAIAT_INVALID_INPUT', /jobType: jobType is required/],
    ['empty type', { jobType: '', name: 'x' }, 'TAIAT_INVALID_INPUT', /jobType: jobType must not be empty/],
    ['agent without agent_name', { jobType: 'agent', name: 'x', payload: {} }, 'TAIAT_INVALID_INPUT', /payload\.agent_name: an agent job needs/],
    ['parameters not an object', { jobType: 'agent', name: 'x', payload: { agent_name: 'a', parameters: [1] } }, 'TAIAT_INVALID_INPUT', /payload\.parameters: must be a JSON object/],
    ['payload an array', { jobType: 'q', name: 'x', payload: [1, 2] }, 'TAIAT_INVALID_INPUT', /payload: must be a JSON object/],
    ['payload a string', { jobType: 'q', name: 'x', payload: 'hi' }, 'TAIAT_INVALID_INPUT', /payload: must be a JSON object/],
    ['payload with a function', { jobType: 'q', name: 'x', payload: { f: () => 1 } }, 'TAIAT_INVALID_INPUT', /payload\.f: a function does not survive JSON/],
    ['payload with a BigInt', { jobType: 'q', name: 'x', payload: { n: 10n } }, 'TAIAT_INVALID_INPUT', /payload\.n: a BigInt/],
    ['payload with a cycle', { jobType: 'q', name: 'x', payload: cyclic }, 'TAIAT_INVALID_INPUT', /payload\.self: contains a cycle/],
    ['payload with a Date', { jobType: 'q', name: 'x', payload: { d: new Date() } }, 'TAIAT_INVALID_INPUT', /payload\.d: a Date does not survive JSON/],
    ['payload with a deep Infinity', { jobType: 'q', name: 'x', payload: { a: [1, { b: [2, Infinity] }] } }, 'TAIAT_INVALID_INPUT', /payload\.a\[1\]\.b\[1\]: Infinity is not a JSON number/],
    ['payload with NaN', { jobType: 'q', name: 'x', payload: { n: NaN } }, 'TAIAT_INVALID_INPUT', /payload\.n: NaN is not a JSON number/],
    ['negative retries', agent('x', { maxRetries: -1 }), 'TAIAT_INVALID_INPUT', /maxRetries: maxRetries must not be negative/],
    ['fractional retries', agent('x', { maxRetries: 1.5 }), 'TAIAT_INVALID_INPUT', /maxRetries: maxRetries must be an integer/],
    ['unknown priority', agent('x', { priority: 'hgih' as never }), 'TAIAT_INVALID_INPUT', /priority: unknown priority 'hgih'/],
    ['invalid date', agent('x', { runAt: 'not a date' }), 'TAIAT_INVALID_INPUT', /runAt: runAt is not a valid date/],
    ['unknown field', { ...agent('x'), dependecies: [] }, 'TAIAT_INVALID_INPUT', /unknown field\(s\): dependecies/],
    ['NUL in name', agent('a\u0000b'), 'TAIAT_INVALID_INPUT', /name: name must not contain a NUL/],
    // A lone surrogate used to reach the database: silently replaced in a name, a raw 22P02 in a payload.
    ['lone surrogate in name', agent('a\ud800b'), 'TAIAT_INVALID_INPUT', /name: name must be well-formed Unicode/],
    ['lone surrogate in a dependency id', agent('x', { dependencies: ['d\udfff'] }), 'TAIAT_INVALID_INPUT', /dependencies\.0: a dependency id must be well-formed Unicode/],
    ['lone surrogate in a payload string', { jobType: 'q', name: 'x', payload: { a: ['ok', 'x\ud83d'] } }, 'TAIAT_INVALID_INPUT', /payload\.a\[1\]: is not well-formed Unicode/],
    ['lone surrogate in a payload key', { jobType: 'q', name: 'x', payload: { ['k\udc00']: 1 } }, 'TAIAT_INVALID_INPUT', /payload\.k.: key is not well-formed Unicode/],
    ['duplicate id', agent('x', { id: 'exists-1' }), 'TAIAT_DUPLICATE_JOB_ID', /exists-1/],
    ['id of a finished job', agent('x', { id: 'failed-1' }), 'TAIAT_DUPLICATE_JOB_ID', /failed-1/],
    ['unknown dependency', agent('x', { dependencies: ['nope-1'] }), 'TAIAT_DEPENDENCY_UNKNOWN', /unknown dependency id\(s\): nope-1/],
    // Without an id of the caller's choosing, the job is named by its name: its generated id means nothing to the caller.
    ['unknown dependency of a job without an id', agent('the load', { dependencies: ['nope-2'] }), 'TAIAT_DEPENDENCY_UNKNOWN', /^unknown dependency id\(s\): nope-2; needed by 'the load'$/],
    ['self dependency', agent('x', { id: 'me', dependencies: ['me'] }), 'TAIAT_DEPENDENCY_SELF', /me \(x\) depends on itself/],
    ['failed dependency', agent('x', { dependencies: ['failed-1'] }), 'TAIAT_DEPENDENCY_FAILED', /failed-1 \(broken\) failed/],
    ['cancelled dependency', agent('x', { dependencies: ['cancelled-1'] }), 'TAIAT_DEPENDENCY_FAILED', /cancelled-1 \(dropped\) cancelled/],
  ];

  it.each(cases)('%s', async (_label, input, code, message) => {
    const before = await snapshot();
    const error = await jobs.createJob(input as NewJob).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaiatError);
    expect((error as TaiatError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
    expect(await snapshot()).toBe(before);
  });

  it('rejects a whole createJobs call when one job is bad, naming it', async () => {
    const before = await snapshot();
    const error = await jobs.createJobs([agent('ok-1'), agent('ok-2'), { jobType: 'agent', name: 'bad', payload: {} }]).catch((e: unknown) => e);
    expect((error as TaiatError).code).toBe('TAIAT_INVALID_INPUT');
    expect((error as Error).message).toMatch(/^jobs\[2\]\.payload\.agent_name:/);
    expect(await snapshot()).toBe(before);
  });

  it('rejects a cycle inside one call, listing its path', async () => {
    const before = await snapshot();
    const error = await jobs.createJobs([
      agent('a', { id: 'c-a', dependencies: ['c-c'] }),
      agent('b', { id: 'c-b', dependencies: ['c-a'] }),
      agent('c', { id: 'c-c', dependencies: ['c-b'] }),
    ]).catch((e: unknown) => e);
    expect((error as TaiatError).code).toBe('TAIAT_DEPENDENCY_CYCLE');
    expect((error as Error).message).toBe('dependency cycle: c-a (a) -> c-c (c) -> c-b (b) -> c-a (a)');
    expect(await snapshot()).toBe(before);
  });

  it('rejects duplicate ids inside one call and a dependency error after valid jobs, writing nothing', async () => {
    const before = await snapshot();
    const dup = await jobs.createJobs([agent('a', { id: 'd-1' }), agent('b', { id: 'd-1' })]).catch((e: unknown) => e);
    expect((dup as TaiatError).code).toBe('TAIAT_DUPLICATE_JOB_ID');
    const late = await jobs.createJobs([agent('a', { id: 'l-1' }), agent('b', { dependencies: ['exists-1', 'ghost'] })]).catch((e: unknown) => e);
    expect((late as TaiatError).code).toBe('TAIAT_DEPENDENCY_UNKNOWN');
    const existing = await jobs.createJobs([agent('a', { id: 'l-2' }), agent('b', { id: 'exists-1' })]).catch((e: unknown) => e);
    expect((existing as TaiatError).code).toBe('TAIAT_DUPLICATE_JOB_ID');
    expect(await snapshot()).toBe(before);
  });

  it('lets exactly one of concurrent creators of the same chosen id win; the others get a duplicate error', async () => {
    const racers = await Promise.all(
      Array.from({ length: 6 }, () => JobManager.connect({ databaseUrl: db.url, maxConnections: 1 })),
    );
    try {
      for (let round = 0; round < 5; round++) {
        const id = `race-${round}`;
        const outcomes = await Promise.allSettled(racers.map((r) => r.createJobs([agent('a'), agent('b', { id })])));
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === 'rejected') {
            expect((o.reason as TaiatError).code).toBe('TAIAT_DUPLICATE_JOB_ID');
            expect((o.reason as TaiatError).message).toContain(id);
          }
        }
        const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE id = ${id}`;
        expect(row!.n).toBe(1);
      }
    } finally {
      await Promise.all(racers.map((r) => r.close()));
    }
  });

  it('enforces payload and call limits', async () => {
    const small = await JobManager.connect({ databaseUrl: db.url, maxPayloadBytes: 100, maxJobsPerCall: 2, maxDependencies: 1 });
    try {
      await expect(small.createJob(agent('x', { payload: { agent_name: 'a', big: 'x'.repeat(200) } }))).rejects.toThrow(/payload: is \d+ bytes of JSON, more than the limit of 100/);
      await expect(small.createJobs([agent('1'), agent('2'), agent('3')])).rejects.toThrow(/jobs: has 3 jobs, more than the limit of 2/);
      await expect(small.createJob(agent('x', { dependencies: ['exists-1', 'ghost'] }))).rejects.toThrow(/dependencies: has 2 entries, more than the limit of 1/);
    } finally {
      await small.close();
    }
  });
});
