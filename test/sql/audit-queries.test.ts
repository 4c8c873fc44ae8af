import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { WORKER_LOST } from '../../src/store/index.js';
import { useTestDatabase } from '../support/database.js';
import { partitionEmptyHistory, partitionRows, splitDefault } from '../support/partitioned-history.js';

// The audit queries of sql/, run exactly as shipped (db.sql.unsafe(file text)) against a database
// seeded with plain SQL, each checked against what the seed says the answer must be. With
// TAIAT_TEST_HISTORY_PARTITION=day (audit-queries-partitioned.test.ts), on a history partitioned
// by day, the seed spread over its partitions.

const db = useTestDatabase();

const SQL_DIR = fileURLToPath(new URL('../../sql', import.meta.url));
const FILES = readdirSync(SQL_DIR).filter((f) => f.endsWith('.sql')).sort();
const read = (file: string) => readFileSync(path.join(SQL_DIR, file), 'utf8');

// Counts (bigint) and rounded values (numeric) come back from postgres.js as strings.
type Row = Record<string, any>;
async function run(file: string, text = read(file)): Promise<Row[]> {
  return [...(await db.sql.unsafe(text))] as Row[];
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The database's clock when seeding began: every seeded time is relative to it. */
let t0: Date;
const ago = (ms: number) => new Date(t0.getTime() - ms);

interface AttemptError {
  attempt: number;
  error: string;
  at: Date;
  worker_id: string | null;
}
const attemptError = (attempt: number, error: string, at: Date, workerId: string | null): AttemptError => ({ attempt, error, at, worker_id: workerId });
/** attempt_errors built by SQL the way taiat writes it (jsonb_build_object, so `at` is a timestamptz). */
const attemptErrors = (errors: AttemptError[] = []) => db.sql`(
  SELECT coalesce(jsonb_agg(jsonb_build_object('attempt', e.attempt, 'error', e.error, 'at', e.at, 'worker_id', e.worker_id)
                            ORDER BY e.attempt), '[]'::jsonb)
    FROM jsonb_to_recordset(${db.sql.json(errors.map((e) => ({ ...e, at: e.at.toISOString() })))}::jsonb)
         AS e(attempt int, error text, at timestamptz, worker_id text))`;

interface Live {
  id: string;
  jobType?: string;
  agent?: string;
  status?: 'pending' | 'running';
  dependencies?: string[];
  pendingDependencies?: number;
  leaseOwner?: string;
  leaseExpiresAt?: Date;
  startedAt?: Date;
  runAt?: Date;
  retryCount?: number;
  attempts?: number;
  errorMessage?: string;
  attemptErrors?: AttemptError[];
}

async function insertLive(...rows: Live[]): Promise<void> {
  for (const r of rows) {
    await db.sql`
      INSERT INTO taiat_jobs (id, job_type, name, payload, dependencies, status, pending_dependencies, lease_owner,
                              lease_expires_at, started_at, run_at, retry_count, attempts, error_message,
                              attempt_errors, created_at)
      VALUES (${r.id}, ${r.jobType ?? 'agent'}, ${r.id}, ${db.sql.json(r.agent ? { agent_name: r.agent } : {})},
              ${db.sql.json(r.dependencies ?? [])}, ${r.status ?? 'pending'}, ${r.pendingDependencies ?? 0},
              ${r.leaseOwner ?? null}, ${r.leaseExpiresAt ?? null}, ${r.startedAt ?? null}, ${r.runAt ?? t0},
              ${r.retryCount ?? 0}, ${r.attempts ?? 0}, ${r.errorMessage ?? null},
              ${attemptErrors(r.attemptErrors)}, ${ago(DAY)})`;
  }
}

interface Finished {
  id: string;
  status: 'completed' | 'failed' | 'cancelled';
  completedAt: Date;
  jobType?: string;
  agent?: string;
  /** Seconds; null for a job that never started. */
  duration?: number | null;
  dependencies?: string[];
  errorMessage?: string;
  causeJobId?: string;
  workerId?: string;
  retryCount?: number;
  maxRetries?: number;
  attempts?: number;
  attemptErrors?: AttemptError[];
}

/** Every history row seeded, with the created_at it was given, for answers computed here. */
const history: (Required<Pick<Finished, 'id' | 'status' | 'completedAt' | 'jobType'>> & Finished & { createdAt: Date })[] = [];

async function insertHistory(...rows: Finished[]): Promise<void> {
  for (const r of rows) {
    const duration = r.duration === undefined ? 1 : r.duration;
    // Distinct creation times, so "newest first" has one answer.
    const createdAt = new Date(r.completedAt.getTime() - (duration ?? 0) * SECOND - MINUTE - history.length * SECOND);
    history.push({ ...r, jobType: r.jobType ?? 'agent', duration, createdAt });
    await db.sql`
      INSERT INTO taiat_job_history (id, job_id, job_type, name, payload, dependencies, status, error_message,
                                     started_at, completed_at, duration_seconds, created_at, worker_id,
                                     retry_count, max_retries, attempts, attempt_errors, cause_job_id)
      VALUES (${r.id}, ${r.id}, ${r.jobType ?? 'agent'}, ${r.id}, ${db.sql.json(r.agent ? { agent_name: r.agent } : {})},
              ${db.sql.json(r.dependencies ?? [])}, ${r.status}, ${r.errorMessage ?? null},
              ${duration === null ? null : new Date(r.completedAt.getTime() - duration * SECOND)}, ${r.completedAt},
              ${duration}, ${createdAt}, ${r.workerId ?? (duration === null ? null : 'w-alive')}, ${r.retryCount ?? 0},
              ${r.maxRetries ?? 3}, ${r.attempts ?? (duration === null ? 0 : 1)}, ${attemptErrors(r.attemptErrors)},
              ${r.causeJobId ?? null})`;
  }
}

async function insertWorker(id: string, lastHeartbeatAt: Date, stoppedAt: Date | null = null): Promise<void> {
  await db.sql`
    INSERT INTO taiat_workers (id, hostname, pid, queues, concurrency, version, started_at, last_heartbeat_at, stopped_at)
    VALUES (${id}, ${`host-${id}`}, 4242, ${db.sql.json(['default'])}, 8, '0.1.0', ${ago(3 * HOUR)}, ${lastHeartbeatAt}, ${stoppedAt})`;
}

/** percentile_cont: linear interpolation between the closest ranks. */
function percentileCont(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = fraction * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const LOST_HEARTBEAT = 10 * MINUTE;
const TAKEN_BACK = 9 * MINUTE;

const PARTITIONED = process.env.TAIAT_TEST_HISTORY_PARTITION as 'day' | 'week' | 'month' | undefined;

beforeAll(async () => {
  if (PARTITIONED) await partitionEmptyHistory(db.sql, PARTITIONED);
  const [now] = await db.sql<{ t: Date }[]>`SELECT now() AS t`;
  t0 = now!.t;

  await insertWorker('w-alive', ago(5 * SECOND));
  await insertWorker('w-lost', ago(LOST_HEARTBEAT));
  await insertWorker('w-lost-idle', ago(5 * MINUTE));
  await insertWorker('w-stopped', ago(10 * MINUTE), ago(10 * MINUTE)); // stopped cleanly: not lost
  await insertWorker('w-long-gone', ago(30 * DAY)); // crashed a month ago: outside the lookback

  await insertLive(
    // d-top -> c-leaf -> b-mid -> a-root (history), and d-top -> b-mid directly (a diamond);
    // c-leaf also needs x-side (history) and pruned-dep (completed, then pruned from history).
    { id: 'b-mid', agent: 'loader', dependencies: ['a-root'] },
    { id: 'c-leaf', agent: 'loader', dependencies: ['b-mid', 'x-side', 'pruned-dep'], pendingDependencies: 1 },
    { id: 'd-top', agent: 'mailer', dependencies: ['c-leaf', 'b-mid'], pendingDependencies: 2 },
    { id: 'run-alive', status: 'running', leaseOwner: 'w-alive', leaseExpiresAt: new Date(t0.getTime() + 30 * SECOND), startedAt: ago(MINUTE), attempts: 1 },
    // Held by w-lost when it went silent, not taken back yet.
    { id: 'lost-running', status: 'running', leaseOwner: 'w-lost', leaseExpiresAt: ago(LOST_HEARTBEAT - 30 * SECOND), startedAt: ago(20 * MINUTE), attempts: 1 },
    // Taken back from w-lost: waiting for its retry, and running its retry on w-alive.
    {
      id: 'lost-retry', retryCount: 1, attempts: 1, runAt: new Date(t0.getTime() + MINUTE), errorMessage: WORKER_LOST,
      attemptErrors: [attemptError(1, WORKER_LOST, ago(TAKEN_BACK), 'w-lost')],
    },
    {
      id: 'lost-rerun', status: 'running', leaseOwner: 'w-alive', leaseExpiresAt: new Date(t0.getTime() + 30 * SECOND),
      startedAt: ago(MINUTE), retryCount: 1, attempts: 2, attemptErrors: [attemptError(1, WORKER_LOST, ago(TAKEN_BACK), 'w-lost')],
    },
    // A lease w-lost lost two hours ago while it still heartbeated: not part of its loss.
    { id: 'old-lost-retry', retryCount: 1, attempts: 1, attemptErrors: [attemptError(1, WORKER_LOST, ago(2 * HOUR), 'w-lost')] },
    {
      id: 'flaky-live', retryCount: 2, attempts: 2, runAt: new Date(t0.getTime() + 5 * MINUTE), errorMessage: 'boom 2',
      attemptErrors: [attemptError(1, 'boom 1', ago(30 * MINUTE), 'w-alive'), attemptError(2, 'boom 2', ago(10 * MINUTE), 'w-alive')],
    },
    // Failed, then put back by retryJob (retry_count and attempts start again; errors are kept).
    { id: 'retried-root', agent: 'extractor', attemptErrors: [attemptError(1, 'disk full', ago(3 * HOUR), 'w-alive')] },
  );

  const rateLimited = (n: number) => Array.from({ length: n }, (_, i) => attemptError(i + 1, 'rate limited', ago(4 * DAY), 'w-alive'));
  await insertHistory(
    // Completed runs: the durations.
    { id: 'a-root', status: 'completed', completedAt: ago(10 * MINUTE), duration: 1, agent: 'summarizer' },
    { id: 'x-side', status: 'completed', completedAt: ago(HOUR + 5 * MINUTE), duration: 2, agent: 'summarizer' },
    { id: 'done-3', status: 'completed', completedAt: ago(2 * HOUR + 5 * MINUTE), duration: 3, agent: 'summarizer' },
    { id: 'done-10', status: 'completed', completedAt: ago(5 * HOUR + 5 * MINUTE), duration: 10, agent: 'summarizer' },
    { id: 'done-old', status: 'completed', completedAt: ago(10 * DAY), duration: 1000, agent: 'summarizer' }, // outside every period
    { id: 'done-30h', status: 'completed', completedAt: ago(30 * HOUR), duration: 1, agent: 'summarizer' }, // outside the 24 hours
    { id: 'shell-5', status: 'completed', completedAt: ago(3 * HOUR), duration: 5, jobType: 'shell' },
    { id: 'shell-7', status: 'completed', completedAt: ago(4 * HOUR), duration: 7, jobType: 'shell' },
    // Retried, then completed.
    {
      id: 'flaky-done', status: 'completed', completedAt: ago(20 * HOUR), duration: 4, agent: 'summarizer', retryCount: 1, attempts: 2,
      attemptErrors: [attemptError(1, 'connection reset', ago(20 * HOUR + MINUTE), 'w-alive')],
    },
    // Lost a lease while w-alive still heartbeated, retried, completed.
    {
      id: 'other-lost', status: 'completed', completedAt: ago(6 * HOUR), duration: 2, agent: 'summarizer', retryCount: 1, attempts: 2,
      attemptErrors: [attemptError(1, WORKER_LOST, ago(6 * HOUR + MINUTE), 'w-alive')],
    },
    // Failures.
    ...(['fail-1', 'fail-2', 'fail-3'] as const).map((id, i) => ({
      id, status: 'failed' as const, completedAt: ago([30 * MINUTE, 2 * HOUR, 3 * DAY][i]!), duration: 0.5, agent: 'summarizer',
      errorMessage: 'rate limited', retryCount: 3, attempts: 4, attemptErrors: rateLimited(4),
    })),
    { id: 'fail-old', status: 'failed', completedAt: ago(10 * DAY), agent: 'summarizer', errorMessage: 'rate limited', retryCount: 3, attempts: 4, attemptErrors: rateLimited(4) },
    // No retries allowed: one failed attempt, not a retry.
    {
      id: 'fail-timeout', status: 'failed', completedAt: ago(HOUR), duration: 30, agent: 'translator', errorMessage: 'timeout',
      maxRetries: 0, attempts: 1, attemptErrors: [attemptError(1, 'timeout', ago(HOUR), 'w-alive')],
    },
    // w-lost's job on its last attempt: failed for good by the rescue.
    {
      id: 'lost-final', status: 'failed', completedAt: ago(TAKEN_BACK), duration: 360, jobType: 'shell', errorMessage: WORKER_LOST,
      workerId: 'w-lost', retryCount: 3, attempts: 4,
      attemptErrors: [
        attemptError(1, 'boom', ago(50 * MINUTE), 'w-alive'),
        attemptError(2, 'boom', ago(40 * MINUTE), 'w-alive'),
        attemptError(3, 'boom', ago(30 * MINUTE), 'w-alive'),
        attemptError(4, WORKER_LOST, ago(TAKEN_BACK), 'w-lost'),
      ],
    },
    // A ctx.waitFor parent failed by its child: it has a cause, but it failed, it was not cancelled.
    {
      id: 'waitfor-parent', status: 'failed', completedAt: ago(40 * MINUTE), duration: null, agent: 'fanout', causeJobId: 'child-x',
      errorMessage: 'child job child-x (part) failed', attemptErrors: [attemptError(1, 'child job child-x (part) failed', ago(40 * MINUTE), null)],
    },
    // A cascade: extract-fail failed, transform-cx and load-cx were cancelled because of it.
    { id: 'extract-fail', status: 'failed', completedAt: ago(HOUR + 30 * MINUTE), duration: 1.5, agent: 'extractor', errorMessage: 'source unavailable', maxRetries: 0, attemptErrors: [attemptError(1, 'source unavailable', ago(HOUR + 30 * MINUTE), 'w-alive')] },
    {
      id: 'transform-cx', status: 'cancelled', completedAt: ago(HOUR + 30 * MINUTE), duration: null, dependencies: ['extract-fail'],
      causeJobId: 'extract-fail', errorMessage: 'dependency extract-fail (extract-fail) failed',
    },
    {
      id: 'load-cx', status: 'cancelled', completedAt: ago(HOUR + 30 * MINUTE), duration: null, dependencies: ['transform-cx'],
      causeJobId: 'extract-fail', errorMessage: 'dependency transform-cx (transform-cx) was cancelled: dependency extract-fail (extract-fail) failed',
    },
    // Cancelled because retried-root failed; retried-root was retried alone since (it is live again).
    {
      id: 'retried-root-cx', status: 'cancelled', completedAt: ago(3 * HOUR), duration: null, dependencies: ['retried-root'],
      causeJobId: 'retried-root', errorMessage: 'dependency retried-root (retried-root) failed',
    },
    { id: 'old-cx', status: 'cancelled', completedAt: ago(10 * DAY), duration: null, causeJobId: 'fail-old', errorMessage: 'dependency fail-old (fail-old) failed' },
    // Cancelled by request: pending, and running.
    { id: 'user-cx', status: 'cancelled', completedAt: ago(30 * MINUTE), duration: null },
    { id: 'running-cx', status: 'cancelled', completedAt: ago(50 * MINUTE), duration: 3, agent: 'summarizer' },
  );
  if (PARTITIONED) await splitDefault(db.sql);
});

describe.runIf(PARTITIONED)('on a partitioned history', () => {
  it('has the seed spread over several partitions, none in the default', async () => {
    const parts = await partitionRows(db.sql);
    expect(parts.filter((p) => p.rows > 0).length).toBeGreaterThan(2);
    expect(parts.find((p) => p.name === 'taiat_job_history_default')!.rows).toBe(0);
  });
});

describe('sql/', () => {
  it('holds exactly the audit queries tested here', () => {
    expect(FILES).toEqual([
      '01-pending-jobs.sql', '02-job-dependencies.sql', '03-recent-history.sql', 'cascade-cancellations.sql',
      'dependency-chain.sql', 'durations.sql', 'failures-by-agent.sql', 'lost-workers.sql', 'retries-per-job.sql',
      'throughput-per-hour.sql',
    ]);
  });

  it.each(FILES)('%s starts with a comment block saying what it answers and what it takes', (file) => {
    const text = read(file);
    expect(text.startsWith('--')).toBe(true);
    const header = text.slice(0, text.search(/^(?!--)/m)); // the leading lines that are comments
    expect(header).toMatch(/Answers:/);
    expect(header).toMatch(/Parameters:/);
  });

  it.each(FILES)('%s is plain SQL: no psql meta-command or variable outside comments', (file) => {
    const code = read(file).split('\n').map((l) => l.replace(/--.*$/, '')).join('\n');
    expect(code).not.toMatch(/^\s*\\/m);
    expect(code).not.toMatch(/(?<!:):['"]?[A-Za-z_]/);
    expect(code.trim().length).toBeGreaterThan(0);
  });

  it.each(FILES)('%s runs unchanged', async (file) => {
    await expect(run(file)).resolves.toBeInstanceOf(Array);
  });
});

describe('the Python original queries', () => {
  it('01-pending-jobs lists every pending job with all its columns, and nothing else', async () => {
    const rows = await run('01-pending-jobs.sql');
    expect(rows.map((r) => r.id).sort()).toEqual(
      ['b-mid', 'c-leaf', 'd-top', 'flaky-live', 'lost-retry', 'old-lost-retry', 'retried-root'].sort(),
    );
    for (const r of rows) expect(r).toMatchObject({ status: 'pending', lease_owner: null });
    expect(rows.find((r) => r.id === 'c-leaf')).toMatchObject({ pending_dependencies: 1, job_type: 'agent' });
  });

  it('02-job-dependencies lists the live jobs with dependencies, and their lists', async () => {
    const rows = await run('02-job-dependencies.sql');
    expect(Object.fromEntries(rows.map((r) => [r.id, r.dependencies]))).toEqual({
      'b-mid': ['a-root'],
      'c-leaf': ['b-mid', 'x-side', 'pruned-dep'],
      'd-top': ['c-leaf', 'b-mid'],
    });
    expect(Object.keys(rows[0]!).sort()).toEqual(['dependencies', 'id', 'name']);
  });

  it('03-recent-history returns the ten newest history rows by created_at', async () => {
    const rows = await run('03-recent-history.sql');
    const expected = [...history].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).slice(0, 10).map((h) => h.id);
    expect(history.length).toBeGreaterThan(10);
    expect(rows.map((r) => r.job_id)).toEqual(expected);
    expect(rows[0]).toHaveProperty('duration_seconds');
  });
});

describe('failures-by-agent.sql', () => {
  it('groups the period\'s failures by job type, agent and error, most frequent first', async () => {
    const rows = await run('failures-by-agent.sql');
    const key = (r: Row) => `${r.job_type}|${r.agent_name ?? '-'}|${r.error_message}`;
    expect(rows.map((r) => [key(r), Number(r.failures)])).toEqual(expect.arrayContaining([
      ['agent|summarizer|rate limited', 3], // fail-old is ten days old: outside the week
      ['agent|translator|timeout', 1],
      ['shell|-|' + WORKER_LOST, 1],
      ['agent|extractor|source unavailable', 1],
      ['agent|fanout|child job child-x (part) failed', 1],
    ]));
    expect(rows).toHaveLength(5); // cancelled and completed jobs are not failures
    const top = rows[0]!;
    expect(key(top)).toBe('agent|summarizer|rate limited');
    expect(top.first_seen).toEqual(ago(3 * DAY));
    expect(top.last_seen).toEqual(ago(30 * MINUTE));
    expect(Number(top.attempts)).toBe(12);
    expect(Number(top.workers)).toBe(1);
    expect(top.example_job_id).toBe('fail-3');
  });
});

describe('retries-per-job.sql', () => {
  it('lists retried jobs, live first, with the errors of their failed attempts', async () => {
    const rows = await run('retries-per-job.sql');
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(rows.filter((r) => r.location === 'live').map((r) => r.id).sort()).toEqual(
      ['flaky-live', 'lost-rerun', 'lost-retry', 'old-lost-retry', 'retried-root'].sort(),
    );
    // fail-timeout failed on its only attempt (nothing retried); fail-old is outside the week.
    expect(rows.filter((r) => r.location === 'history').map((r) => r.id).sort()).toEqual(
      ['fail-1', 'fail-2', 'fail-3', 'flaky-done', 'lost-final', 'other-lost'].sort(),
    );
    const firstHistory = rows.findIndex((r) => r.location === 'history');
    expect(rows.slice(0, firstHistory).every((r) => r.location === 'live')).toBe(true);

    expect(byId.get('flaky-live')).toMatchObject({ status: 'pending', retry_count: 2, attempts: 2, failed_attempts: 2 });
    expect(byId.get('flaky-live')!.errors).toEqual([
      expect.stringMatching(/^attempt 1 at .+ on w-alive: boom 1$/),
      expect.stringMatching(/^attempt 2 at .+ on w-alive: boom 2$/),
    ]);
    expect(byId.get('lost-final')).toMatchObject({ status: 'failed', retry_count: 3, max_retries: 3, attempts: 4, failed_attempts: 4 });
    expect(byId.get('lost-final')!.errors[3]).toBe(
      `attempt 4 at ${(await db.sql`SELECT to_jsonb(${ago(TAKEN_BACK)}::timestamptz) #>> '{}' AS at`)[0]!.at} on w-lost: ${WORKER_LOST}`,
    );
    expect(byId.get('retried-root')).toMatchObject({ retry_count: 0, failed_attempts: 1 });
    expect(byId.get('retried-root')!.errors).toEqual([expect.stringMatching(/: disk full$/)]);
  });
});

describe('durations.sql', () => {
  it('gives p50, p95 and max per job type and status over the week, as percentile_cont computes them', async () => {
    const rows = await run('durations.sql');
    const inWeek = history.filter((h) => h.duration !== null && h.completedAt >= ago(7 * DAY));
    const groups = new Map<string, number[]>();
    for (const h of inWeek) groups.set(`${h.jobType}|${h.status}`, [...(groups.get(`${h.jobType}|${h.status}`) ?? []), h.duration!]);
    expect(rows.map((r) => `${r.job_type}|${r.status}`).sort()).toEqual([...groups.keys()].sort());
    for (const r of rows) {
      const values = groups.get(`${r.job_type}|${r.status}`)!;
      expect(Number(r.runs)).toBe(values.length);
      expect(Number(r.p50_seconds)).toBeCloseTo(percentileCont(values, 0.5), 3);
      expect(Number(r.p95_seconds)).toBeCloseTo(percentileCont(values, 0.95), 3);
      expect(Number(r.max_seconds)).toBe(Math.max(...values));
    }
    // By hand: shell completed 5 and 7 s.
    expect(rows.find((r) => r.job_type === 'shell' && r.status === 'completed')).toMatchObject({
      runs: '2', p50_seconds: '6.000', p95_seconds: '6.900', max_seconds: '7.000',
    });
    // agent completed: 1 1 2 2 3 4 10 (done-old's 1000 s is outside the week): p50 = 2, p95 = 4 + 0.7 * (10 - 4).
    expect(rows.find((r) => r.job_type === 'agent' && r.status === 'completed')).toMatchObject({
      runs: '7', p50_seconds: '2.000', p95_seconds: '8.200', max_seconds: '10.000',
    });
  });
});

describe('throughput-per-hour.sql', () => {
  it('counts finished jobs per hour and status over the last 24 hours, empty hours included', async () => {
    const rows = await run('throughput-per-hour.sql');
    expect(rows).toHaveLength(24);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.hour.getTime() - rows[i - 1]!.hour.getTime()).toBe(HOUR);
    expect(rows[23]!.hour.getTime()).toBeLessThanOrEqual(Date.now());
    expect(t0.getTime() - rows[23]!.hour.getTime()).toBeLessThan(HOUR);
    for (const r of rows) {
      const start = r.hour.getTime();
      const inHour = history.filter((h) => h.completedAt.getTime() >= start && h.completedAt.getTime() < start + HOUR);
      const count = (status: string) => inHour.filter((h) => h.status === status).length;
      expect([Number(r.completed), Number(r.failed), Number(r.cancelled), Number(r.total)]).toEqual([
        count('completed'), count('failed'), count('cancelled'), inHour.length,
      ]);
    }
    const totals = rows.reduce((n, r) => n + Number(r.total), 0);
    expect(totals).toBe(history.filter((h) => h.completedAt >= ago(22 * HOUR)).length); // done-30h and older are out
    expect(rows.some((r) => Number(r.total) === 0)).toBe(true);
  });
});

describe('dependency-chain.sql', () => {
  const text = read('dependency-chain.sql');
  const forJob = (id: string) => {
    // Edit the literal as a user would: in the statement, not in the comment that explains it.
    const lines = text.split('\n');
    expect(lines.filter((l) => !l.startsWith('--') && l.includes("'JOB_ID_HERE'"))).toHaveLength(1);
    return lines.map((l) => (l.startsWith('--') ? l : l.replace("'JOB_ID_HERE'", `'${id}'`))).join('\n');
  };

  it('as shipped, says the placeholder job is not found', async () => {
    const rows = await run('dependency-chain.sql');
    expect(rows).toEqual([expect.objectContaining({ depth: 0, id: 'JOB_ID_HERE', location: 'not found', status: null })]);
  });

  it('walks the whole upstream tree of a job, live and history, with the shortest depth', async () => {
    const rows = await run('dependency-chain.sql', forJob('d-top'));
    expect(rows.map((r) => [r.depth, r.id, r.status, r.location])).toEqual([
      [0, 'd-top', 'pending', 'live'],
      [1, 'b-mid', 'pending', 'live'], // also reachable at depth 2 through c-leaf: listed once
      [1, 'c-leaf', 'pending', 'live'],
      [2, 'a-root', 'completed', 'history'], // the depth-2 ancestor
      [2, 'pruned-dep', null, 'not found'],
      [2, 'x-side', 'completed', 'history'],
    ]);
    const b = rows.find((r) => r.id === 'b-mid')!;
    expect(b.needed_by.sort()).toEqual(['c-leaf', 'd-top']);
    expect(rows.find((r) => r.id === 'a-root')).toMatchObject({ needed_by: ['b-mid'], completed_at: ago(10 * MINUTE) });
  });

  it('shows a cascade\'s failed root upstream of a cancelled job', async () => {
    const rows = await run('dependency-chain.sql', forJob('load-cx'));
    expect(rows.map((r) => [r.depth, r.id, r.status, r.location, r.error_message])).toEqual([
      [0, 'load-cx', 'cancelled', 'history', expect.stringContaining('was cancelled')],
      [1, 'transform-cx', 'cancelled', 'history', 'dependency extract-fail (extract-fail) failed'],
      [2, 'extract-fail', 'failed', 'history', 'source unavailable'],
    ]);
  });
});

describe('cascade-cancellations.sql', () => {
  it('lists the jobs cancelled by a cascade with their root cause, its status, location and error', async () => {
    const rows = await run('cascade-cancellations.sql');
    // user-cx and running-cx were cancelled by request; waitfor-parent failed; old-cx is outside the week.
    expect(rows.map((r) => r.cancelled_job_id)).toEqual(['load-cx', 'transform-cx', 'retried-root-cx']);
    expect(rows[0]).toMatchObject({
      cancelled_job_id: 'load-cx', root_job_id: 'extract-fail', root_status: 'failed', root_location: 'history',
      root_error: 'source unavailable', root_finished_at: ago(HOUR + 30 * MINUTE), cancelled_by_root: '2',
      reason: expect.stringMatching(/^dependency transform-cx .* was cancelled: dependency extract-fail/),
    });
    expect(rows[1]).toMatchObject({ cancelled_job_id: 'transform-cx', root_job_id: 'extract-fail', root_status: 'failed' });
    expect(rows[2]).toMatchObject({
      cancelled_job_id: 'retried-root-cx', root_job_id: 'retried-root', root_status: 'pending', root_location: 'live',
      root_finished_at: null, cancelled_by_root: '1',
    });
  });
});

describe('lost-workers.sql', () => {
  it('lists the silent workers and the jobs they held: still leased, taken back, finished', async () => {
    const rows = await run('lost-workers.sql');
    // w-alive heartbeats, w-stopped stopped cleanly, w-long-gone is older than the lookback.
    expect([...new Set(rows.map((r) => r.worker_id))]).toEqual(['w-lost', 'w-lost-idle']);
    expect(rows.filter((r) => r.worker_id === 'w-lost').map((r) => [r.job_id, r.what, r.location, r.job_status])).toEqual([
      ['lost-rerun', 'taken back, running again', 'live', 'running'],
      ['lost-retry', 'taken back, retry pending', 'live', 'pending'],
      ['lost-running', 'still leased', 'live', 'running'],
      ['lost-final', 'taken back, finished', 'history', 'failed'], // old-lost-retry's loss predates the silence
    ]);
    const lost = rows.find((r) => r.job_id === 'lost-final')!;
    expect(lost).toMatchObject({ taken_back_at: ago(TAKEN_BACK), job_completed_at: ago(TAKEN_BACK), error_message: WORKER_LOST, last_heartbeat_at: ago(LOST_HEARTBEAT) });
    expect(rows.find((r) => r.job_id === 'lost-running')).toMatchObject({ lease_expires_at: ago(LOST_HEARTBEAT - 30 * SECOND), taken_back_at: null });
    expect(rows.filter((r) => r.worker_id === 'w-lost-idle')).toEqual([expect.objectContaining({ job_id: null, what: null, hostname: 'host-w-lost-idle' })]);
  });
});
