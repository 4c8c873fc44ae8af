import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DatabaseUnavailableError, DependencyError, InvalidStateError, JobManager, JobNotFoundError, SchemaNotCurrentError,
  TaiatError, ValidationError, type FinishedStatus, type NewJob,
} from '../../src/index.js';
import { schemaNames } from '../../src/store/index.js';

const { cancelChannel: CANCEL_CHANNEL, readyChannel: READY_CHANNEL } = schemaNames();
import { connectionsTo, createDatabase, useTestDatabase } from '../support/database.js';
import { snapshot as takeSnapshot } from '../support/harness.js';

const db = useTestDatabase();
let jobs: JobManager;
beforeAll(async () => {
  jobs = await JobManager.connect({ databaseUrl: db.url });
});
afterAll(async () => {
  await jobs.close();
});
// Every test starts from empty tables, so listings see only what the test made.
beforeEach(async () => {
  await db.sql`TRUNCATE taiat_jobs, taiat_job_history`;
});

const snapshot = () => takeSnapshot(db.sql);

const agent = (name: string, extra: Partial<NewJob> = {}): NewJob => ({
  jobType: 'agent',
  name,
  payload: { agent_name: 'worker' },
  ...extra,
});

const ago = (ms: number) => new Date(Date.now() - ms);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** What a worker's claim does to a row: running, leased by `worker`. */
async function markRunning(id: string, worker = 'w1'): Promise<void> {
  const rows = await db.sql`
    UPDATE taiat_jobs
       SET status = 'running', lease_owner = ${worker}, lease_expires_at = now() + interval '1 minute',
           started_at = now(), attempts = attempts + 1, updated_at = now()
     WHERE id = ${id} AND status = 'pending'
    RETURNING id`;
  expect(rows).toHaveLength(1);
}

interface Finished {
  id: string;
  status: FinishedStatus;
  name?: string;
  dependencies?: string[];
  causeJobId?: string;
  errorMessage?: string;
  completedAt?: Date;
  createdAt?: Date;
  queue?: string;
  retryCount?: number;
  attempts?: number;
}

/** Writes finished jobs straight into history, as a worker (or a cascade) would have. */
async function insertHistory(...rows: Finished[]): Promise<void> {
  for (const r of rows) {
    await db.sql`
      INSERT INTO taiat_job_history (id, job_id, job_type, name, status, dependencies, cause_job_id, error_message,
                                     completed_at, created_at, queue, retry_count, attempts)
      VALUES (${r.id}, ${r.id}, 'noop', ${r.name ?? r.id}, ${r.status}, ${db.sql.json(r.dependencies ?? [])},
              ${r.causeJobId ?? null}, ${r.errorMessage ?? null}, ${r.completedAt ?? new Date()},
              ${r.createdAt ?? ago(HOUR)}, ${r.queue ?? 'default'}, ${r.retryCount ?? 0}, ${r.attempts ?? 0})`;
  }
}

/** Sets `created_at` so "newest first" has a known answer that differs from id order. */
async function setCreatedAt(id: string, at: Date): Promise<void> {
  const rows = await db.sql`
    WITH l AS (UPDATE taiat_jobs SET created_at = ${at} WHERE id = ${id} RETURNING id),
         h AS (UPDATE taiat_job_history SET created_at = ${at} WHERE job_id = ${id} RETURNING id)
    SELECT id FROM l UNION ALL SELECT id FROM h`;
  expect(rows).toHaveLength(1);
}

async function liveRows(ids: string[]) {
  return db.sql<{ id: string; status: string; pending_dependencies: number; has_dependents: boolean }[]>`
    SELECT id, status, pending_dependencies, has_dependents FROM taiat_jobs WHERE id = ANY(${ids}::text[]) ORDER BY id`;
}

async function historyRows(ids: string[]) {
  return db.sql<{ job_id: string; status: string; error_message: string | null; cause_job_id: string | null }[]>`
    SELECT job_id, status, error_message, cause_job_id FROM taiat_job_history
     WHERE job_id = ANY(${ids}::text[]) ORDER BY job_id`;
}

/** The error a call rejects with; fails the test if it resolves or throws something that is not a TaiatError. */
async function rejection(promise: Promise<unknown>): Promise<TaiatError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TaiatError);
  return error as TaiatError;
}

async function expectValidation(promise: Promise<unknown>, field: string, message?: RegExp): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error.code).toBe('TAIAT_INVALID_INPUT');
  expect((error as ValidationError).field).toBe(field);
  if (field) expect(error.message.startsWith(`${field}: `)).toBe(true);
  if (message) expect(error.message).toMatch(message);
}

/** Runs `fn` while listening on `channel` (on a connection of its own), returning the payloads received. */
async function listening(channel: string, fn: () => Promise<void>, expected: number): Promise<string[]> {
  const listener = postgres(db.url, { max: 1, onnotice: () => {} });
  const got: string[] = [];
  try {
    await listener.listen(channel, (payload) => got.push(payload));
    await fn();
    await vi.waitFor(() => expect(got.length).toBeGreaterThanOrEqual(expected), { timeout: 5_000 });
    // Give a stray extra notification a moment to arrive, so the caller can assert the exact list.
    await new Promise((r) => setTimeout(r, 100));
    return got;
  } finally {
    await listener.end();
  }
}

describe('getJob', () => {
  it('returns a live pending job exactly as createJob returned it', async () => {
    const created = await jobs.createJob(agent('fetch', { id: 'g-live', priority: 'high', queue: 'q1', description: 'd' }));
    const job = await jobs.getJob('g-live');
    expect(job).toEqual(created);
    expect(job).toMatchObject({ id: 'g-live', status: 'pending', location: 'live', priority: 3, queue: 'q1', workerId: null });
  });

  it('returns a running job with its worker and lease', async () => {
    await jobs.createJob(agent('run', { id: 'g-running' }));
    await markRunning('g-running', 'worker-7');
    const job = await jobs.getJob('g-running');
    expect(job).toMatchObject({ status: 'running', location: 'live', workerId: 'worker-7', attempts: 1 });
    expect(job!.leaseExpiresAt).toBeInstanceOf(Date);
    expect(job!.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect(job!.startedAt).toBeInstanceOf(Date);
  });

  it('returns a finished job from history with its outcome', async () => {
    const at = new Date('2024-05-01T12:00:00.000Z');
    await db.sql`
      INSERT INTO taiat_job_history (id, job_id, job_type, name, status, result, started_at, completed_at,
                                     duration_seconds, worker_id, attempts, retry_count, attempt_errors, cause_job_id)
      VALUES ('g-done', 'g-done', 'agent', 'summarise', 'completed', ${db.sql.json({ rows: 3, ok: true })},
              ${new Date(at.getTime() - 1500)}, ${at}, 1.5, 'w-9', 2, 1,
              ${db.sql.json([{ attempt: 1, error: 'flaky', at: '2024-05-01T11:59:00.000Z', worker_id: 'w-8' }])}, NULL)`;
    const job = await jobs.getJob('g-done');
    expect(job).toMatchObject({
      id: 'g-done',
      jobType: 'agent',
      name: 'summarise',
      status: 'completed',
      location: 'history',
      result: { rows: 3, ok: true },
      durationSeconds: 1.5,
      workerId: 'w-9',
      attempts: 2,
      retryCount: 1,
      leaseExpiresAt: null,
      causeJobId: null,
      attemptErrors: [{ attempt: 1, error: 'flaky', at: new Date('2024-05-01T11:59:00.000Z'), workerId: 'w-8' }],
    });
    expect(job!.completedAt!.toISOString()).toBe(at.toISOString());
    expect(await jobs.getJob('g-live')).toBeNull();
  });

  it('returns null for an unknown id, and for any id at the 200-character limit', async () => {
    await jobs.createJob(agent('x', { id: 'g-known' }));
    expect(await jobs.getJob('g-unknown')).toBeNull();
    expect(await jobs.getJob('G-KNOWN')).toBeNull();
    expect(await jobs.getJob('x'.repeat(200))).toBeNull();
  });

  it.each<[string, unknown, RegExp]>([
    ['an empty id', '', /id must not be empty/],
    ['a too long id', 'x'.repeat(201), /id must be at most 200 characters/],
    ['a number', 42, /id must be a string/],
    ['undefined', undefined, /id must be a string/],
    ['null', null, /id must be a string/],
    ['an object', { id: 'g-live' }, /id must be a string/],
  ])('rejects %s with a ValidationError naming id', async (_label, id, message) => {
    await expectValidation(jobs.getJob(id as string), 'id', message);
  });
});

describe('getReadyJobs', () => {
  beforeEach(async () => {
    await jobs.createJobs([
      agent('low', { id: 'r-low', priority: 'low', queue: 'rq', runAt: ago(HOUR) }),
      agent('urgent late', { id: 'r-u-late', priority: 'urgent', queue: 'rq', runAt: ago(MINUTE) }),
      agent('urgent c', { id: 'r-u-c', priority: 'urgent', queue: 'rq', runAt: new Date('2025-01-01T00:00:00Z') }),
      agent('urgent a', { id: 'r-u-a', priority: 'urgent', queue: 'rq', runAt: new Date('2025-01-01T00:00:00Z') }),
      agent('urgent b', { id: 'r-u-b', priority: 'urgent', queue: 'rq', runAt: new Date('2025-01-01T00:00:00Z') }),
      agent('normal', { id: 'r-normal', queue: 'rq', runAt: ago(5 * MINUTE) }),
      agent('integer priority', { id: 'r-int', priority: 100, queue: 'rq', runAt: ago(MINUTE) }),
      // Not ready: in the future, blocked, running.
      agent('future', { id: 'r-future', priority: 'urgent', queue: 'rq', runAt: new Date(Date.now() + HOUR) }),
      agent('blocked', { id: 'r-blocked', priority: 'urgent', queue: 'rq', runAt: ago(HOUR), dependencies: ['r-low'] }),
      agent('running', { id: 'r-running', priority: 'urgent', queue: 'rq', runAt: ago(HOUR) }),
      // Another queue.
      agent('other', { id: 'r-other', priority: 'high', queue: 'other', runAt: ago(MINUTE) }),
    ]);
    await markRunning('r-running');
    await insertHistory({ id: 'r-finished', status: 'completed', queue: 'rq' });
  });

  const claimOrder = ['r-int', 'r-u-a', 'r-u-b', 'r-u-c', 'r-u-late', 'r-normal', 'r-low'];

  it('returns only pending, unblocked jobs whose runAt has come, by priority, then runAt, then id', async () => {
    const ready = await jobs.getReadyJobs({ queue: 'rq' });
    expect(ready.map((j) => j.id)).toEqual(claimOrder);
    expect(ready.every((j) => j.status === 'pending' && j.location === 'live')).toBe(true);
  });

  it('reads every queue without a queue filter', async () => {
    const ready = await jobs.getReadyJobs();
    expect(ready.map((j) => j.id)).toEqual(['r-int', 'r-u-a', 'r-u-b', 'r-u-c', 'r-u-late', 'r-other', 'r-normal', 'r-low']);
    expect((await jobs.getReadyJobs({ queue: 'other' })).map((j) => j.id)).toEqual(['r-other']);
    expect(await jobs.getReadyJobs({ queue: 'nobody' })).toEqual([]);
  });

  it('stops at the limit, keeping claim order', async () => {
    expect((await jobs.getReadyJobs({ queue: 'rq', limit: 3 })).map((j) => j.id)).toEqual(claimOrder.slice(0, 3));
    expect((await jobs.getReadyJobs({ queue: 'rq', limit: 1 })).map((j) => j.id)).toEqual(['r-int']);
  });

  it('includes a job once its runAt has come', async () => {
    await db.sql`UPDATE taiat_jobs SET run_at = now() - interval '2 hours' WHERE id = 'r-future'`;
    expect((await jobs.getReadyJobs({ queue: 'rq' })).map((j) => j.id)).toEqual([
      'r-int', 'r-u-a', 'r-u-b', 'r-u-c', 'r-future', 'r-u-late', 'r-normal', 'r-low',
    ]);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['limit 0', { limit: 0 }, 'options.limit', /limit must be at least 1/],
    ['limit above 10,000', { limit: 10_001 }, 'options.limit', /limit must be at most 10000/],
    ['fractional limit', { limit: 1.5 }, 'options.limit', /limit must be an integer/],
    ['limit as a string', { limit: '5' }, 'options.limit', /limit must be a number/],
    ['empty queue', { queue: '' }, 'options.queue', /queue must not be empty/],
    ['unknown option', { status: 'pending' }, 'options.status', /unknown option 'status'/],
  ])('rejects %s', async (_label, options, field, message) => {
    await expectValidation(jobs.getReadyJobs(options as never), field, message);
  });
});

describe('listJobs', () => {
  beforeEach(async () => {
    await jobs.createJobs([
      agent('pending', { id: 'l-pending', queue: 'a' }),
      agent('blocked', { id: 'l-blocked', queue: 'a', dependencies: ['l-pending'] }),
      agent('running', { id: 'l-running', queue: 'b' }),
    ]);
    await markRunning('l-running');
    await insertHistory(
      { id: 'l-done', status: 'completed', queue: 'a' },
      { id: 'l-failed', status: 'failed', queue: 'b' },
      { id: 'l-cancelled', status: 'cancelled', queue: 'a' },
    );
    // Creation order (oldest first) differs from id order and from table order.
    const order = ['l-done', 'l-running', 'l-pending', 'l-cancelled', 'l-blocked', 'l-failed'];
    for (const [i, id] of order.entries()) await setCreatedAt(id, ago((order.length - i) * MINUTE));
  });

  const newestFirst = ['l-failed', 'l-blocked', 'l-cancelled', 'l-pending', 'l-running', 'l-done'];

  it('lists live and finished jobs together, newest first', async () => {
    const all = await jobs.listJobs();
    expect(all.map((j) => j.id)).toEqual(newestFirst);
    expect(all.map((j) => j.location)).toEqual(['history', 'live', 'history', 'live', 'live', 'history']);
  });

  it.each<[string, string[]]>([
    ['pending', ['l-blocked', 'l-pending']],
    ['running', ['l-running']],
    ['completed', ['l-done']],
    ['failed', ['l-failed']],
    ['cancelled', ['l-cancelled']],
  ])('filters by status %s', async (status, expected) => {
    const listed = await jobs.listJobs({ status: status as never });
    expect(listed.map((j) => j.id)).toEqual(expected);
    expect(listed.every((j) => j.status === status)).toBe(true);
  });

  it('filters by queue, alone and with a status', async () => {
    expect((await jobs.listJobs({ queue: 'a' })).map((j) => j.id)).toEqual(['l-blocked', 'l-cancelled', 'l-pending', 'l-done']);
    expect((await jobs.listJobs({ queue: 'a', status: 'pending' })).map((j) => j.id)).toEqual(['l-blocked', 'l-pending']);
    expect((await jobs.listJobs({ queue: 'b', status: 'failed' })).map((j) => j.id)).toEqual(['l-failed']);
    expect(await jobs.listJobs({ queue: 'b', status: 'pending' })).toEqual([]);
  });

  it('stops at the limit', async () => {
    expect((await jobs.listJobs({ limit: 2 })).map((j) => j.id)).toEqual(newestFirst.slice(0, 2));
    expect((await jobs.listJobs({ limit: 10_000 })).map((j) => j.id)).toEqual(newestFirst);
  });

  it('breaks ties on creation time by id, descending', async () => {
    await jobs.createJobs([agent('t', { id: 't-2', queue: 'tie' }), agent('t', { id: 't-1', queue: 'tie' }), agent('t', { id: 't-3', queue: 'tie' })]);
    const [row] = await db.sql`SELECT count(DISTINCT created_at)::int AS n FROM taiat_jobs WHERE queue = 'tie'`;
    expect(row!.n).toBe(1);
    expect((await jobs.listJobs({ queue: 'tie' })).map((j) => j.id)).toEqual(['t-3', 't-2', 't-1']);
  });

  it('with readyOnly, lists only ready jobs', async () => {
    expect((await jobs.listJobs({ readyOnly: true })).map((j) => j.id)).toEqual(['l-pending']);
    expect((await jobs.listJobs({ readyOnly: true, status: 'pending' })).map((j) => j.id)).toEqual(['l-pending']);
    expect(await jobs.listJobs({ readyOnly: true, status: 'running' })).toEqual([]);
    expect(await jobs.listJobs({ readyOnly: true, status: 'completed' })).toEqual([]);
    expect(await jobs.listJobs({ readyOnly: true, queue: 'b' })).toEqual([]);
    expect((await jobs.listJobs({ readyOnly: true, queue: 'a' })).map((j) => j.id)).toEqual(['l-pending']);
    expect((await jobs.listJobs({ readyOnly: false, status: 'pending' })).map((j) => j.id)).toEqual(['l-blocked', 'l-pending']);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['limit 0', { limit: 0 }, 'options.limit', /limit must be at least 1/],
    ['negative limit', { limit: -5 }, 'options.limit', /limit must be at least 1/],
    ['limit above 10,000', { limit: 10_001 }, 'options.limit', /limit must be at most 10000/],
    ['fractional limit', { limit: 2.5 }, 'options.limit', /limit must be an integer/],
    ['unknown status', { status: 'done' }, 'options.status', /status must be one of pending, running, completed, failed, cancelled/],
    ['status of the wrong type', { status: 1 }, 'options.status', /status must be one of/],
    ['readyOnly not a boolean', { readyOnly: 'yes' }, 'options.readyOnly', /readyOnly must be a boolean/],
    ['empty queue', { queue: '' }, 'options.queue', /queue must not be empty/],
    ['queue not a string', { queue: 5 }, 'options.queue', /queue must be a string/],
    ['misspelt option', { stauts: 'pending' }, 'options.stauts', /unknown option 'stauts'/],
  ])('rejects %s, naming the field', async (_label, options, field, message) => {
    await expectValidation(jobs.listJobs(options as never), field, message);
  });
});

describe('getJobHistory', () => {
  const T = new Date('2025-03-10T12:00:00.000Z');
  const before = (ms: number) => new Date(T.getTime() - ms);

  beforeEach(async () => {
    // Finish order differs from id order and from creation order.
    await insertHistory(
      { id: 'h-c', status: 'completed', completedAt: before(3 * HOUR), createdAt: before(1 * MINUTE) },
      { id: 'h-a', status: 'failed', completedAt: before(2 * HOUR), createdAt: before(10 * HOUR) },
      { id: 'h-d', status: 'cancelled', completedAt: before(1 * HOUR), createdAt: before(9 * HOUR) },
      { id: 'h-b', status: 'completed', completedAt: before(30 * MINUTE), createdAt: before(8 * HOUR) },
    );
    await jobs.createJob(agent('still live', { id: 'h-live' }));
  });

  it('lists finished jobs only, most recently finished first', async () => {
    const history = await jobs.getJobHistory();
    expect(history.map((j) => j.id)).toEqual(['h-b', 'h-d', 'h-a', 'h-c']);
    expect(history.every((j) => j.location === 'history')).toBe(true);
  });

  it.each<[FinishedStatus, string[]]>([
    ['completed', ['h-b', 'h-c']],
    ['failed', ['h-a']],
    ['cancelled', ['h-d']],
  ])('filters by status %s', async (status, expected) => {
    expect((await jobs.getJobHistory({ status })).map((j) => j.id)).toEqual(expected);
  });

  it('filters by since, inclusive, as a Date or an ISO string', async () => {
    expect((await jobs.getJobHistory({ since: before(HOUR) })).map((j) => j.id)).toEqual(['h-b', 'h-d']);
    expect((await jobs.getJobHistory({ since: before(HOUR).toISOString() })).map((j) => j.id)).toEqual(['h-b', 'h-d']);
    expect((await jobs.getJobHistory({ since: new Date(before(HOUR).getTime() + 1) })).map((j) => j.id)).toEqual(['h-b']);
    expect(await jobs.getJobHistory({ since: T })).toEqual([]);
  });

  it('combines status, since and limit', async () => {
    expect((await jobs.getJobHistory({ limit: 1 })).map((j) => j.id)).toEqual(['h-b']);
    expect((await jobs.getJobHistory({ status: 'completed', since: before(4 * HOUR), limit: 1 })).map((j) => j.id)).toEqual(['h-b']);
    expect((await jobs.getJobHistory({ status: 'completed', since: before(HOUR) })).map((j) => j.id)).toEqual(['h-b']);
    expect(await jobs.getJobHistory({ status: 'failed', since: before(HOUR) })).toEqual([]);
  });

  it('breaks ties on finish time by id, descending', async () => {
    await insertHistory(
      { id: 'tie-1', status: 'completed', completedAt: T },
      { id: 'tie-3', status: 'completed', completedAt: T },
      { id: 'tie-2', status: 'completed', completedAt: T },
    );
    expect((await jobs.getJobHistory({ limit: 3 })).map((j) => j.id)).toEqual(['tie-3', 'tie-2', 'tie-1']);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['a live status', { status: 'pending' }, 'options.status', /status must be one of completed, failed, cancelled/],
    ['an unknown status', { status: 'done' }, 'options.status', /status must be one of completed, failed, cancelled/],
    ['an unparseable since', { since: 'yesterday' }, 'options.since', /since is not a valid date/],
    ['an invalid Date', { since: new Date('nope') }, 'options.since', /since/],
    ['a numeric since', { since: 12 }, 'options.since', /since must be a Date or an ISO 8601 string/],
    ['limit 0', { limit: 0 }, 'options.limit', /limit must be at least 1/],
    ['an unknown option', { queue: 'a' }, 'options.queue', /unknown option 'queue'/],
  ])('rejects %s, naming the field', async (_label, options, field, message) => {
    await expectValidation(jobs.getJobHistory(options as never), field, message);
  });
});

describe('cancelJob', () => {
  it('moves a pending job to history and cancels its dependents, 3 levels deep', async () => {
    await jobs.createJobs([
      agent('root', { id: 'k-root' }),
      agent('level1', { id: 'k-1', dependencies: ['k-root'] }),
      agent('level2', { id: 'k-2', dependencies: ['k-1'] }),
      agent('level3', { id: 'k-3', dependencies: ['k-2'] }),
      agent('unrelated', { id: 'k-other' }),
      agent('waits on unrelated', { id: 'k-other-child', dependencies: ['k-other'] }),
    ]);
    const cancelled = await jobs.cancelJob('k-root');
    expect(cancelled).toMatchObject({
      id: 'k-root', status: 'cancelled', location: 'history', errorMessage: 'cancelled by request',
      causeJobId: null, durationSeconds: null, startedAt: null,
    });
    expect(cancelled.completedAt).toBeInstanceOf(Date);

    expect(await historyRows(['k-root', 'k-1', 'k-2', 'k-3'])).toEqual([
      { job_id: 'k-1', status: 'cancelled', cause_job_id: 'k-root', error_message: 'dependency k-root (root) was cancelled' },
      {
        job_id: 'k-2', status: 'cancelled', cause_job_id: 'k-root',
        error_message: 'dependency k-1 (level1) was cancelled: dependency k-root (root) was cancelled',
      },
      {
        job_id: 'k-3', status: 'cancelled', cause_job_id: 'k-root',
        error_message: 'dependency k-2 (level2) was cancelled: dependency k-root (root) was cancelled',
      },
      { job_id: 'k-root', status: 'cancelled', cause_job_id: null, error_message: 'cancelled by request' },
    ]);
    expect((await db.sql`SELECT id FROM taiat_jobs ORDER BY id`).map((r) => r.id)).toEqual(['k-other', 'k-other-child']);
    expect(await jobs.getJob('k-3')).toMatchObject({ status: 'cancelled', location: 'history', causeJobId: 'k-root' });
  });

  it('cancels a diamond-shaped dependent once, and a job depending on a cancelled and a live job', async () => {
    await jobs.createJobs([
      agent('a', { id: 'd-a' }),
      agent('b', { id: 'd-b', dependencies: ['d-a'] }),
      agent('c', { id: 'd-c', dependencies: ['d-a'] }),
      agent('d', { id: 'd-d', dependencies: ['d-b', 'd-c'] }),
      agent('keep', { id: 'd-keep' }),
      agent('mixed', { id: 'd-mixed', dependencies: ['d-keep', 'd-c'] }),
    ]);
    await jobs.cancelJob('d-a');
    const rows = await historyRows(['d-a', 'd-b', 'd-c', 'd-d', 'd-mixed']);
    expect(rows.map((r) => [r.job_id, r.cause_job_id])).toEqual([
      ['d-a', null], ['d-b', 'd-a'], ['d-c', 'd-a'], ['d-d', 'd-a'], ['d-mixed', 'd-a'],
    ]);
    expect(rows.find((r) => r.job_id === 'd-d')!.error_message).toMatch(/^dependency d-[bc] \([bc]\) was cancelled: dependency d-a \(a\) was cancelled$/);
    expect((await liveRows(['d-keep'])).map((r) => r.id)).toEqual(['d-keep']);
  });

  it('cancels a blocked pending job without touching the job it waits for', async () => {
    await jobs.createJobs([agent('first', { id: 'b-first' }), agent('second', { id: 'b-second', dependencies: ['b-first'] })]);
    const job = await jobs.cancelJob('b-second');
    expect(job).toMatchObject({ status: 'cancelled', causeJobId: null });
    expect(await liveRows(['b-first'])).toEqual([{ id: 'b-first', status: 'pending', pending_dependencies: 0, has_dependents: true }]);
  });

  it('asks a running job to stop: cancel_requested_at is set, it stays running, its worker is notified', async () => {
    await jobs.createJobs([agent('busy', { id: 'run-1' }), agent('after', { id: 'run-2', dependencies: ['run-1'] })]);
    await markRunning('run-1', 'w1');
    let job: Awaited<ReturnType<JobManager['cancelJob']>> | undefined;
    const notified = await listening(CANCEL_CHANNEL, async () => {
      job = await jobs.cancelJob('run-1');
    }, 1);
    expect(notified).toEqual(['run-1']);
    expect(job).toMatchObject({ id: 'run-1', status: 'running', location: 'live', workerId: 'w1' });
    const [row] = await db.sql`SELECT status, lease_owner, cancel_requested_at FROM taiat_jobs WHERE id = 'run-1'`;
    expect(row!.status).toBe('running');
    expect(row!.lease_owner).toBe('w1');
    expect(row!.cancel_requested_at).toBeInstanceOf(Date);
    // Nothing cascades until the job actually ends.
    expect(await liveRows(['run-2'])).toEqual([{ id: 'run-2', status: 'pending', pending_dependencies: 1, has_dependents: false }]);
    expect(await historyRows(['run-1', 'run-2'])).toEqual([]);
  });

  it.each<FinishedStatus>(['completed', 'failed', 'cancelled'])('refuses a %s job and changes nothing', async (status) => {
    await insertHistory({ id: 'fin-1', status });
    await jobs.createJob(agent('bystander', { id: 'fin-bystander' }));
    const before = await snapshot();
    const error = await rejection(jobs.cancelJob('fin-1'));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.code).toBe('TAIAT_INVALID_STATE');
    expect((error as InvalidStateError).status).toBe(status);
    expect((error as InvalidStateError).jobId).toBe('fin-1');
    expect(error.message).toMatch(new RegExp(`already finished \\(${status}\\)`));
    expect(await snapshot()).toBe(before);
  });

  it('throws JobNotFoundError for an unknown job', async () => {
    const error = await rejection(jobs.cancelJob('ghost'));
    expect(error).toBeInstanceOf(JobNotFoundError);
    expect(error.code).toBe('TAIAT_JOB_NOT_FOUND');
    expect((error as JobNotFoundError).jobId).toBe('ghost');
    expect(error.message).toBe('job ghost does not exist');
  });

  it('rejects a bad id', async () => {
    await expectValidation(jobs.cancelJob(''), 'id', /id must not be empty/);
    await expectValidation(jobs.cancelJob(7 as never), 'id', /id must be a string/);
  });
});

describe('retryJob', () => {
  it('puts a failed job back to pending with its retries reset, ready, and wakes its queue', async () => {
    await insertHistory({
      id: 'f-1', status: 'failed', name: 'flaky', errorMessage: 'boom', retryCount: 3, attempts: 4,
      queue: 'retry-q', createdAt: new Date('2025-01-01T00:00:00Z'),
    });
    await db.sql`UPDATE taiat_job_history SET run_at = now() - interval '1 day' WHERE job_id = 'f-1'`;
    const startedAt = Date.now();
    let job: Awaited<ReturnType<JobManager['retryJob']>> | undefined;
    const woken = await listening(READY_CHANNEL, async () => {
      job = await jobs.retryJob('f-1');
    }, 1);
    expect(woken).toEqual(['retry-q']);
    expect(job).toMatchObject({
      id: 'f-1', name: 'flaky', status: 'pending', location: 'live', retryCount: 0, attempts: 0,
      errorMessage: null, completedAt: null, queue: 'retry-q',
    });
    expect(job!.createdAt.toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(job!.runAt.getTime()).toBeGreaterThan(startedAt - MINUTE);
    expect(await historyRows(['f-1'])).toEqual([]);
    expect(await liveRows(['f-1'])).toEqual([{ id: 'f-1', status: 'pending', pending_dependencies: 0, has_dependents: false }]);
    expect((await jobs.getReadyJobs({ queue: 'retry-q' })).map((j) => j.id)).toEqual(['f-1']);
  });

  it('retries a cancelled job', async () => {
    await insertHistory({ id: 'c-1', status: 'cancelled', errorMessage: 'cancelled by request' });
    expect(await jobs.retryJob('c-1')).toMatchObject({ status: 'pending', location: 'live', errorMessage: null });
  });

  describe('with dependents', () => {
    beforeEach(async () => {
      await jobs.createJob(agent('still live', { id: 'x-live' }));
      await insertHistory(
        { id: 'x-done', status: 'completed' },
        { id: 'x-root', status: 'failed', errorMessage: 'boom' },
        { id: 'x-1', status: 'cancelled', dependencies: ['x-root'], causeJobId: 'x-root' },
        { id: 'x-2', status: 'cancelled', dependencies: ['x-1', 'x-done'], causeJobId: 'x-root' },
        { id: 'x-3', status: 'cancelled', dependencies: ['x-2', 'x-1', 'x-live'], causeJobId: 'x-root' },
        // Cancelled because of another failure: must stay in history.
        { id: 'x-other', status: 'failed' },
        { id: 'x-elsewhere', status: 'cancelled', dependencies: ['x-other'], causeJobId: 'x-other' },
      );
    });

    it('brings back the cascade-cancelled dependents, blocked, with correct counts', async () => {
      const job = await jobs.retryJob('x-root', { dependents: true });
      expect(job).toMatchObject({ id: 'x-root', status: 'pending', location: 'live' });
      expect(await liveRows(['x-root', 'x-1', 'x-2', 'x-3', 'x-live'])).toEqual([
        { id: 'x-1', status: 'pending', pending_dependencies: 1, has_dependents: true },
        { id: 'x-2', status: 'pending', pending_dependencies: 1, has_dependents: true },
        { id: 'x-3', status: 'pending', pending_dependencies: 3, has_dependents: false },
        { id: 'x-live', status: 'pending', pending_dependencies: 0, has_dependents: true },
        { id: 'x-root', status: 'pending', pending_dependencies: 0, has_dependents: true },
      ]);
      expect((await historyRows(['x-done', 'x-other', 'x-elsewhere'])).map((r) => r.job_id)).toEqual(['x-done', 'x-elsewhere', 'x-other']);
      expect((await jobs.getReadyJobs()).map((j) => j.id).sort()).toEqual(['x-live', 'x-root']);
    });

    it('without the option, brings back only the job; a dependent retried later waits for it', async () => {
      await jobs.retryJob('x-root');
      expect((await liveRows(['x-root', 'x-1', 'x-2', 'x-3'])).map((r) => r.id)).toEqual(['x-root']);
      expect((await historyRows(['x-1', 'x-2', 'x-3'])).map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);

      const dependent = await jobs.retryJob('x-1');
      expect(dependent).toMatchObject({ status: 'pending', location: 'live' });
      expect(await liveRows(['x-root', 'x-1'])).toEqual([
        { id: 'x-1', status: 'pending', pending_dependencies: 1, has_dependents: false },
        { id: 'x-root', status: 'pending', pending_dependencies: 0, has_dependents: true },
      ]);
    });

    it('refuses a job whose dependency failed, naming it, and changes nothing', async () => {
      const before = await snapshot();
      const error = await rejection(jobs.retryJob('x-1'));
      expect(error).toBeInstanceOf(DependencyError);
      expect(error.code).toBe('TAIAT_DEPENDENCY_FAILED');
      expect((error as DependencyError).jobIds).toEqual(['x-root']);
      expect(error.message).toMatch(/x-root \(x-root\) failed/);
      expect(await snapshot()).toBe(before);
      // Same with dependents: x-1's own dependency is still failed.
      expect((await rejection(jobs.retryJob('x-1', { dependents: true }))).code).toBe('TAIAT_DEPENDENCY_FAILED');
      expect(await snapshot()).toBe(before);
    });
  });

  it('after cancelJob, retrying the root with dependents restores the graph as it was', async () => {
    await jobs.createJobs([
      agent('root', { id: 'rt-root' }),
      agent('one', { id: 'rt-1', dependencies: ['rt-root'] }),
      agent('two', { id: 'rt-2', dependencies: ['rt-1', 'rt-root'] }),
      agent('three', { id: 'rt-3', dependencies: ['rt-2'] }),
    ]);
    const ids = ['rt-root', 'rt-1', 'rt-2', 'rt-3'];
    const original = await liveRows(ids);
    expect(original.map((r) => r.pending_dependencies)).toEqual([1, 2, 1, 0]);
    await jobs.cancelJob('rt-root');
    expect(await liveRows(ids)).toEqual([]);
    expect((await historyRows(ids)).map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    await jobs.retryJob('rt-root', { dependents: true });
    expect(await liveRows(ids)).toEqual(original);
    expect(await historyRows(ids)).toEqual([]);
  });

  it.each<[string, () => Promise<void>, string]>([
    ['pending', async () => void (await jobs.createJob(agent('p', { id: 'st-1' }))), 'pending'],
    ['running', async () => {
      await jobs.createJob(agent('r', { id: 'st-1' }));
      await markRunning('st-1');
    }, 'running'],
    ['completed', () => insertHistory({ id: 'st-1', status: 'completed' }), 'completed'],
  ])('refuses a %s job with TAIAT_INVALID_STATE and changes nothing', async (_label, setup, status) => {
    await setup();
    const before = await snapshot();
    const error = await rejection(jobs.retryJob('st-1', { dependents: true }));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.code).toBe('TAIAT_INVALID_STATE');
    expect((error as InvalidStateError).status).toBe(status);
    expect(error.message).toMatch(/only failed or cancelled jobs can be retried/);
    expect(await snapshot()).toBe(before);
  });

  it('throws JobNotFoundError for an unknown job', async () => {
    const error = await rejection(jobs.retryJob('ghost'));
    expect(error).toBeInstanceOf(JobNotFoundError);
    expect(error.code).toBe('TAIAT_JOB_NOT_FOUND');
  });

  it('rejects bad input', async () => {
    await insertHistory({ id: 'bad-1', status: 'failed' });
    await expectValidation(jobs.retryJob(''), 'id', /id must not be empty/);
    await expectValidation(jobs.retryJob('bad-1', { dependents: 'yes' } as never), 'options.dependents', /dependents must be a boolean/);
    await expectValidation(jobs.retryJob('bad-1', { dependent: true } as never), 'options.dependent', /unknown option 'dependent'/);
    expect((await historyRows(['bad-1'])).map((r) => r.status)).toEqual(['failed']);
  });
});

describe('cleanupOldHistory', () => {
  // Records each DELETE statement on history and how many rows it removed, to see the batches.
  beforeAll(async () => {
    await db.sql`CREATE TABLE test_history_deletes (n serial PRIMARY KEY, deleted int NOT NULL)`;
    await db.sql`
      CREATE FUNCTION test_log_history_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO test_history_deletes (deleted) SELECT count(*) FROM gone;
        RETURN NULL;
      END $$`;
    await db.sql`
      CREATE TRIGGER test_log_history_delete AFTER DELETE ON taiat_job_history
        REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION test_log_history_delete()`;
  });
  afterAll(async () => {
    await db.sql`DROP TRIGGER test_log_history_delete ON taiat_job_history`;
    await db.sql`DROP FUNCTION test_log_history_delete()`;
    await db.sql`DROP TABLE test_history_deletes`;
  });
  beforeEach(async () => {
    await db.sql`TRUNCATE test_history_deletes RESTART IDENTITY`;
  });

  async function batches(): Promise<number[]> {
    return (await db.sql<{ deleted: number }[]>`SELECT deleted FROM test_history_deletes ORDER BY n`).map((r) => r.deleted);
  }

  /** Inserts finished jobs, then backdates their completion by `age` (an interval). */
  async function finishedAgo(prefix: string, count: number, age: string): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    const statuses: FinishedStatus[] = ['completed', 'failed', 'cancelled'];
    await insertHistory(...ids.map((id, i) => ({ id, status: statuses[i % 3]! })));
    await db.sql`UPDATE taiat_job_history SET completed_at = now() - ${age}::interval WHERE job_id = ANY(${ids}::text[])`;
    return ids;
  }

  async function remaining(): Promise<string[]> {
    return (await db.sql<{ job_id: string }[]>`SELECT job_id FROM taiat_job_history ORDER BY job_id`).map((r) => r.job_id);
  }

  it('deletes only rows finished more than N days ago, in batches, and returns the count', async () => {
    await finishedAgo('old', 7, '10 days');
    const nearly = await finishedAgo('nearly', 2, '6 days 20 hours');
    const fresh = await finishedAgo('fresh', 3, '1 minute');
    // A live job created long ago is not history.
    await jobs.createJob(agent('ancient', { id: 'live-ancient' }));
    await db.sql`UPDATE taiat_jobs SET created_at = now() - interval '100 days' WHERE id = 'live-ancient'`;

    expect(await jobs.cleanupOldHistory({ days: 7, batchSize: 2 })).toBe(7);
    expect(await batches()).toEqual([2, 2, 2, 1]);
    expect(await remaining()).toEqual([...fresh, ...nearly].sort());
    expect(await liveRows(['live-ancient'])).toHaveLength(1);

    expect(await jobs.cleanupOldHistory({ days: 7, batchSize: 2 })).toBe(0);
    expect(await remaining()).toHaveLength(5);
  });

  it('stops after an empty batch when the count is a multiple of the batch size', async () => {
    await finishedAgo('old', 6, '3 days');
    const keep = await finishedAgo('keep', 2, '1 day');
    expect(await jobs.cleanupOldHistory({ days: 2, batchSize: 3 })).toBe(6);
    expect(await batches()).toEqual([3, 3, 0]);
    expect(await remaining()).toEqual(keep);
  });

  it('deletes in one statement with the default batch size', async () => {
    await finishedAgo('old', 12, '40 days');
    expect(await jobs.cleanupOldHistory({ days: 30 })).toBe(12);
    expect(await batches()).toEqual([12]);
    expect(await remaining()).toEqual([]);
  });

  it('accepts fractional days, and 0 days deletes everything finished before now', async () => {
    const older = await finishedAgo('half', 2, '13 hours');
    const newer = await finishedAgo('recent', 2, '11 hours');
    expect(await jobs.cleanupOldHistory({ days: 0.5 })).toBe(2);
    expect(await remaining()).toEqual(newer);
    expect(older.every((id) => !newer.includes(id))).toBe(true);
    expect(await jobs.cleanupOldHistory({ days: 0 })).toBe(2);
    expect(await remaining()).toEqual([]);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['negative days', { days: -1 }, 'options.days', /days must not be negative/],
    ['missing days', {}, 'options.days', /days must be a number/],
    ['days as a string', { days: '7' }, 'options.days', /days must be a number/],
    ['too many days', { days: 36501 }, 'options.days', /days must be at most 36500/],
    ['batchSize 0', { days: 1, batchSize: 0 }, 'options.batchSize', /./],
    ['fractional batchSize', { days: 1, batchSize: 1.5 }, 'options.batchSize', /./],
    ['an unknown option', { days: 1, dryRun: true }, 'options.dryRun', /unknown option 'dryRun'/],
  ])('rejects %s and deletes nothing', async (_label, options, field, message) => {
    await finishedAgo('old', 2, '400 days');
    await expectValidation(jobs.cleanupOldHistory(options as never), field, message);
    expect(await remaining()).toHaveLength(2);
    expect(await batches()).toEqual([]);
  });
});

describe('JobManager.connect', () => {
  /** Connections open to a database, waiting a little for closing ones to go. */

  it('rejects with DatabaseUnavailableError for an unreachable server, without the password', async () => {
    const error = await rejection(JobManager.connect({ databaseUrl: 'postgres://u:secretpw@127.0.0.1:1/x' }));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.code).toBe('TAIAT_DATABASE_UNAVAILABLE');
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).not.toContain('secretpw');
    expect(error.cause).toBeDefined();
  });

  it('rejects with DatabaseUnavailableError for a missing database, without the password', async () => {
    const url = new URL(db.url);
    url.pathname = '/taiat_no_such_database';
    const error = await rejection(JobManager.connect({ databaseUrl: url.toString() }));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.code).toBe('TAIAT_DATABASE_UNAVAILABLE');
    expect(error.message).toMatch(/taiat_no_such_database/);
    const password = decodeURIComponent(url.password);
    if (password) expect(error.message).not.toContain(password);
  });

  it('rejects with TAIAT_SCHEMA_NOT_CURRENT for a database without the schema, and closes its pool', async () => {
    const empty = await createDatabase({ migrated: false });
    try {
      const error = await rejection(JobManager.connect({ databaseUrl: empty.url }));
      expect(error).toBeInstanceOf(SchemaNotCurrentError);
      expect(error.code).toBe('TAIAT_SCHEMA_NOT_CURRENT');
      expect((error as SchemaNotCurrentError).missing).toEqual(['relation taiat_jobs', 'relation taiat_job_history', 'relation taiat_workers', 'relation taiat_all_jobs']);
      // It names where it looked: advice to init the default schema would otherwise make a
      // second, empty instance beside one in another schema.
      expect(error.message).toMatch(/not current in schema public \(missing: relation taiat_jobs, .*\); if your instance is in another schema, name it \(--schema, TAIAT_SCHEMA or the schema option\); else run `taiat init`$/);
      expect((error as SchemaNotCurrentError).schema).toBe('public');
      const named = await rejection(JobManager.connect({ databaseUrl: empty.url, schema: 'app_jobs' }));
      expect(named.message).toMatch(/not current in schema app_jobs \(missing: .*\); run `taiat init --schema app_jobs`$/);
      expect(await connectionsTo(db.sql, empty.name)).toBe(0);
    } finally {
      await empty.drop();
    }
  });

  it('refuses every call once closed, at once (reads on a closed pool would wait for ever), and closes twice', async () => {
    const closed = await JobManager.connect({ databaseUrl: db.url });
    await closed.close();
    for (const call of [() => closed.getJob('x'), () => closed.listJobs(), () => closed.listQueues(), () => closed.createJob(agent('late'))]) {
      const error = await rejection(call());
      expect(error.code).toBe('TAIAT_INVALID_STATE');
      expect(error.message).toMatch(/closed/);
    }
    await closed.close();
  });

  it('rejects a bad configuration before connecting', async () => {
    const scheme = await rejection(JobManager.connect({ databaseUrl: 'mysql://u:secretpw@127.0.0.1/x' }));
    expect(scheme.code).toBe('TAIAT_CONFIG_INVALID');
    expect((scheme as ValidationError).field).toBe('databaseUrl');
    expect(scheme.message).not.toContain('secretpw');
    await expectValidation(JobManager.connect({ databaseUrl: db.url, maxConnections: 0 }), 'maxConnections', /at least 1/);
    await expectValidation(JobManager.connect({ databaseUrl: db.url, poolSize: 3 } as never), 'poolSize', /unknown option 'poolSize'/);
  });

  it('uses TAIAT_DATABASE_URL when no URL is passed, and says which settings are missing when none is', async () => {
    try {
      vi.stubEnv('TAIAT_DATABASE_URL', db.url);
      vi.stubEnv('DATABASE_URL', '');
      const fromEnv = await JobManager.connect();
      try {
        await jobs.createJob(agent('via env', { id: 'env-1' }));
        expect((await fromEnv.getJob('env-1'))?.name).toBe('via env');
      } finally {
        await fromEnv.close();
      }
      vi.stubEnv('TAIAT_DATABASE_URL', '');
      const error = await rejection(JobManager.connect());
      expect(error.code).toBe('TAIAT_CONFIG_INVALID');
      expect(error.message).toMatch(/TAIAT_DATABASE_URL or DATABASE_URL/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('connects to a migrated database, and close() is safe to call twice', async () => {
    const other = await JobManager.connect({ databaseUrl: db.url, maxConnections: 1 });
    await jobs.createJob(agent('seen', { id: 'seen-1' }));
    expect((await other.getJob('seen-1'))?.id).toBe('seen-1');
    await other.close();
    await expect(other.close()).resolves.toBeUndefined();
  });

  it('close() returns within its deadline while a call waits on a lock, and that call fails', async () => {
    const other = await JobManager.connect({ databaseUrl: db.url, maxConnections: 1 });
    await jobs.createJob(agent('locked', { id: 'locked-1' }));
    expect((await other.getJob('locked-1'))?.status).toBe('pending'); // Kysely's driver too
    const holder = await db.sql.reserve();
    try {
      await holder`BEGIN`;
      await holder`SELECT id FROM taiat_jobs WHERE id = 'locked-1' FOR UPDATE`;
      const waiting = other.cancelJob('locked-1').then(() => 'returned', (e: Error) => e);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      await other.close();
      expect(performance.now() - t0).toBeLessThan(8_000);
      // The server notices the closed connection once the lock wait ends: the call then fails and
      // its transaction is rolled back.
      await holder`ROLLBACK`;
      const outcome = await waiting;
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as TaiatError).code).toBe('TAIAT_DATABASE_UNAVAILABLE');
    } finally {
      holder.release();
    }
    expect((await jobs.getJob('locked-1'))?.status).toBe('pending');
  }, 30_000);
});
