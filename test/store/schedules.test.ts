import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { readStatus, ScheduleNotFoundError, ValidationError, Worker } from '../../src/index.js';
import { runDueTicks, schemaNames } from '../../src/store/index.js';
import { runBin } from '../support/cli.js';
import { spawnWorker } from '../support/processes.js';
import { useWorkerHarness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db } = harness;

const job = { jobType: 'agent', name: 'tick', queue: 'ticks', payload: { agent_name: 'tick' } };
const ticks = async (id: string) =>
  (await db.sql<{ tick_at: Date; job_ids: string[]; created_at: Date }[]>`SELECT tick_at, job_ids, created_at FROM taiat_schedule_ticks WHERE schedule_id = ${id} ORDER BY tick_at`);

describe('schedules', () => {
  it('are created, listed, paused, resumed, run by hand and removed; bad ones are refused and nothing is stored', async () => {
    const s = await harness.jobs.upsertSchedule('nightly', { cron: '0 3 * * *', timeZone: 'Europe/Berlin', job });
    expect(s).toMatchObject({ id: 'nightly', cron: '0 3 * * *', timeZone: 'Europe/Berlin', paused: false, source: 'api', lastTickAt: null, lastOutcome: null });
    expect(s.nextTickAt.getTime()).toBeGreaterThan(Date.now());
    expect((await harness.jobs.pauseSchedule('nightly')).paused).toBe(true);
    expect((await harness.jobs.resumeSchedule('nightly')).paused).toBe(false);
    const ids = await harness.jobs.triggerSchedule('nightly');
    expect(ids).toHaveLength(1);
    expect(await harness.jobs.getJob(ids[0]!)).toMatchObject({ scheduleId: 'nightly', name: 'tick', status: 'pending' });
    const listed = await harness.jobs.listSchedules();
    expect(listed.map((x) => [x.id, x.lastOutcome, x.lastJobIds])).toEqual([['nightly', 'pending', ids]]);
    await harness.jobs.removeSchedule('nightly');
    expect(await harness.jobs.getSchedule('nightly')).toBeNull();
    expect(await harness.jobs.getJob(ids[0]!)).not.toBeNull(); // its jobs stay
    await expect(harness.jobs.pauseSchedule('nightly')).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(harness.jobs.upsertSchedule('bad', { cron: '61 * * * *', job })).rejects.toBeInstanceOf(ValidationError);
    await expect(harness.jobs.upsertSchedule('bad', { every: '1h', job: { ...job, jobType: '' } })).rejects.toMatchObject({ field: 'job.jobType' });
    expect(await harness.jobs.listSchedules()).toEqual([]);
  });

  it('fire each tick exactly once across three workers, on time, the jobs recording their schedule and tick', async () => {
    const seen = new Map<string, number>();
    const agents = { tick: (_p: unknown, ctx: { job: { id: string } }) => void seen.set(ctx.job.id, (seen.get(ctx.job.id) ?? 0) + 1) };
    const workers = await Promise.all([0, 1, 2].map(() => harness.startWorker({ agents, queues: ['ticks'] })));
    expect(workers).toHaveLength(3);
    await harness.jobs.upsertSchedule('every-second', { every: 1, job });
    await new Promise((r) => setTimeout(r, 4_500));
    await harness.jobs.pauseSchedule('every-second');
    const rows = await ticks('every-second');
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(new Set(rows.map((r) => r.tick_at.getTime())).size).toBe(rows.length);
    // Consecutive seconds, none missing, each with one job.
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.tick_at.getTime() - rows[i - 1]!.tick_at.getTime()).toBe(1000);
    expect(rows.every((r) => r.job_ids.length === 1)).toBe(true);
    for (const r of rows) expect(r.created_at.getTime() - r.tick_at.getTime()).toBeLessThan(1000);
    const jobs = await db.sql`SELECT schedule_id, schedule_tick FROM taiat_all_jobs WHERE schedule_id = 'every-second' ORDER BY schedule_tick`;
    expect(jobs.map((j) => j.schedule_tick.getTime())).toEqual(rows.map((r) => r.tick_at.getTime()));
    await waitFor(() => rows.every((r) => seen.get(r.job_ids[0]!) === 1), 'every tick\'s job to run once');
  });

  it('are left to other workers by a worker started with --no-run-schedules', async () => {
    await harness.jobs.upsertSchedule('elsewhere', { every: 1, job });
    const worker = spawnWorker(db.url, ['--no-run-schedules', '--queues', 'ticks']);
    try {
      await waitFor(() => /worker started/.test(worker.output()), 'the worker to start');
      await new Promise((r) => setTimeout(r, 2_500));
      expect(await ticks('elsewhere')).toEqual([]);
      await harness.startWorker({ agents: { tick: () => null }, queues: ['elsewhere'] });
      await waitFor(async () => (await ticks('elsewhere')).length > 0, 'a tick from the worker that runs schedules');
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  });

  it('after downtime, run missed ticks by their catch-up policy: skip, latest, all (up to the limit)', async () => {
    for (const catchUp of ['skip', 'latest', 'all'] as const) {
      await harness.jobs.upsertSchedule(`missed-${catchUp}`, { every: '1m', job, catchUp, catchUpLimit: 3 });
    }
    // Ten minutes without a worker.
    await db.sql`UPDATE taiat_schedules SET next_tick_at = date_trunc('minute', now()) - interval '10 minutes'`;
    await harness.startWorker({ agents: { other: () => null }, queues: ['elsewhere'] });
    await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_schedules WHERE next_tick_at > now()`)[0]!.n === 3, 'the schedules to catch up');
    // One at a time: db.sql's second connection would outlive the file (the leak check).
    const counts: Record<string, number> = {};
    for (const c of ['skip', 'latest', 'all']) counts[c] = (await ticks(`missed-${c}`)).length;
    // The tick of this minute is under a minute late: it runs whatever the policy. The nine
    // before it were missed: skip drops them, latest runs one, all the last three (its limit).
    expect(counts).toEqual({ skip: 1, latest: 2, all: 4 });
  });

  it('create a pass\'s ticks together, at most a budget of them, the rest in the next pass; a refused one alone is skipped', async () => {
    const t = schemaNames('public');
    for (const id of ['a', 'b']) await harness.jobs.upsertSchedule(id, { every: 1, job, catchUp: 'all' });
    await harness.jobs.upsertSchedule('refused', { every: 1, job: { ...job, dependencies: ['no-such-job'] }, catchUp: 'all' });
    // Each missed the last 30 seconds.
    await db.sql`UPDATE taiat_schedules SET next_tick_at = date_trunc('second', now()) - interval '30 seconds'`;
    const first = await runDueTicks(db.sql, t, 200, 40);
    // 40 planned in next-tick order, some of them refused ones: the good ones are created, each refused one skipped.
    expect(first.ticks + first.failed.length).toBe(40);
    expect(first.failed.every((f) => f.id === 'refused')).toBe(true);
    const [left] = await db.sql`SELECT count(*)::int AS n FROM taiat_schedules WHERE next_tick_at <= now()`;
    expect(left!.n).toBeGreaterThan(0);
    while ((await runDueTicks(db.sql, t, 200, 40)).ticks > 0);
    for (const id of ['a', 'b']) {
      const rows = await ticks(id);
      // Every second from the first missed one, none twice, none skipped.
      expect(rows.length).toBeGreaterThanOrEqual(31);
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.tick_at.getTime() - rows[i - 1]!.tick_at.getTime()).toBe(1000);
    }
    expect(await ticks('refused')).toEqual([]);
    expect((await harness.jobs.getSchedule('refused'))!.lastError).toMatch(/unknown dependency/);
  });

  it('record a tick whose jobs the database refuses, and go on ticking', async () => {
    await harness.jobs.upsertSchedule('broken', { every: 1, job: { ...job, dependencies: ['no-such-job'] } });
    await harness.startWorker({ agents: { other: () => null }, queues: ['elsewhere'] });
    const s = await waitFor(async () => (await harness.jobs.getSchedule('broken'))?.lastError ? (await harness.jobs.getSchedule('broken')) : null, 'the error');
    expect(s.lastError).toMatch(/unknown dependency id\(s\): no-such-job/);
    expect(s.nextTickAt.getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(await ticks('broken')).toEqual([]);
  });

  it('keep their tick rows as long as history, and always their latest', async () => {
    for (const id of ['recent', 'old']) await harness.jobs.upsertSchedule(id, { every: '1h', job, paused: true });
    // 'recent' ticked each of the last 50 hours; 'old' each of the 50 hours before last month.
    await db.sql`
      INSERT INTO taiat_schedule_ticks (schedule_id, tick_at, job_ids)
      SELECT s.id, date_trunc('hour', now()) - make_interval(hours => h + s.back), '[]'
        FROM generate_series(1, 50) h, (VALUES ('recent', 0), ('old', 720)) AS s(id, back)`;
    const worker = await harness.startWorker({ agents: { tick: () => null }, historyRetentionDays: 1 });
    await worker.pruneHistory();
    // Ticks older than the history's retention (here a day) go: those 1 to 23 hours old stay...
    expect((await ticks('recent')).length).toBe(23);
    // ...and a schedule keeps its latest tick, whatever its age.
    const old = await ticks('old');
    expect(old.map((r) => r.tick_at.getTime())).toEqual([Math.floor(Date.now() / 3_600_000) * 3_600_000 - 721 * 3_600_000]);
  });

  it('declared by a module are synced when a worker starts, and removed once no live worker declares them', async () => {
    const declaring = await harness.startWorker({ agents: { tick: () => null }, schedules: { 'from-module': { cron: '0 4 * * *', job } } });
    expect(await harness.jobs.getSchedule('from-module')).toMatchObject({ source: 'module', cron: '0 4 * * *' });
    // Another worker, declaring nothing, leaves it alone while the first lives.
    const other = new Worker({ databaseUrl: db.url, agents: { tick: () => null }, pruneIntervalHours: 0 });
    await other.start();
    expect(await harness.jobs.getSchedule('from-module')).not.toBeNull();
    await declaring.stop();
    const third = new Worker({ databaseUrl: db.url, agents: { tick: () => null }, pruneIntervalHours: 0 });
    await third.start();
    expect(await harness.jobs.getSchedule('from-module')).toBeNull();
    await Promise.all([other.stop(), third.stop()]);
    expect(() => new Worker({ databaseUrl: db.url, schedules: { bad: { every: 'never', job } } })).toThrow(/schedules\.bad\.every: 'never' is not an interval/);
  });

  it('show in the status, with a warning when no live worker runs their agent', async () => {
    await harness.startWorker({ agents: { tick: () => null } });
    await harness.jobs.upsertSchedule('runnable', { cron: '0 5 * * *', job });
    await harness.jobs.upsertSchedule('orphan', { cron: '0 5 * * *', job: { ...job, payload: { agent_name: 'nobody-runs-me' } } });
    const sql = postgres(db.url, { max: 4, onnotice: () => {} });
    const status = await readStatus(sql).finally(() => sql.end());
    expect(status.schedules.map((s) => [s.id, s.warning])).toEqual([['orphan', "no live worker runs agent 'nobody-runs-me'"], ['runnable', null]]);
    const text = await runBin('taiat', ['status'], { TAIAT_DATABASE_URL: db.url });
    expect(text.stdout).toMatch(/Schedules\n[\s\S]*orphan\s+next .*warning: no live worker runs agent 'nobody-runs-me'/);
  });

  it('are managed from the command line, as text and JSON', async () => {
    const env = { TAIAT_DATABASE_URL: db.url };
    const add = await runBin('taiat', ['schedule', 'add', 'cli', '--every', '1h', '--job', JSON.stringify(job), '--json'], env);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ id: 'cli', everySeconds: 3600, source: 'api' });
    // The CLI passes every value as a string: digits alone are seconds, as a number is in the API.
    const digits = await runBin('taiat', ['schedule', 'add', 'digits', '--every', '10', '--job', JSON.stringify(job), '--json'], env);
    expect([digits.code, digits.stderr]).toEqual([0, '']);
    expect(JSON.parse(digits.stdout)).toMatchObject({ id: 'digits', everySeconds: 10 });
    expect((await harness.jobs.upsertSchedule('digits', { every: '2.5', job })).everySeconds).toBe(2.5);
    await harness.jobs.removeSchedule('digits');
    const run = await runBin('taiat', ['schedule', 'run', 'cli', '--json'], env);
    expect(JSON.parse(run.stdout)).toHaveLength(1);
    expect((await runBin('taiat', ['schedule', 'pause', 'cli'], env)).stdout).toBe('paused schedule cli\n');
    const list = await runBin('taiat', ['schedule', 'list'], env);
    expect(list.stdout).toMatch(/cli\s+every 3600s\s+paused/);
    expect((await runBin('taiat', ['schedule', 'remove', 'cli'], env)).stdout).toBe('removed schedule cli\n');
    const missing = await runBin('taiat', ['schedule', 'run', 'cli'], env);
    expect([missing.code, missing.stderr]).toEqual([1, 'error [TAIAT_SCHEDULE_NOT_FOUND]: schedule cli does not exist\n']);
    const bad = await runBin('taiat', ['schedule', 'add', 'x', '--cron', 'nope', '--job', JSON.stringify(job)], env);
    expect(bad.stderr).toMatch(/^error \[TAIAT_INVALID_INPUT\]: cron: 'nope' is not a cron expression/);
  }, 60_000);
});
