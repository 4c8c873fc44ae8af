import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStatus, ValidationError, type JobContext } from '../../src/index.js';
import { formatStatus } from '../../src/status/format.js';
import { schemaNames, writeProgress } from '../../src/store/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;

beforeAll(async () => {
  // Every write of a job's progress, as the database saw it.
  await db.sql.unsafe(`
    CREATE TABLE progress_writes (job_id text, progress jsonb, at timestamptz DEFAULT clock_timestamp());
    CREATE FUNCTION record_progress() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO progress_writes (job_id, progress) VALUES (NEW.id, NEW.progress); RETURN NEW; END $$;
    CREATE TRIGGER record_progress AFTER UPDATE OF progress ON taiat_jobs
      FOR EACH ROW WHEN (NEW.progress IS DISTINCT FROM OLD.progress AND NEW.progress IS NOT NULL) EXECUTE FUNCTION record_progress();`);
});

const writes = async (id: string) => db.sql<{ progress: unknown }[]>`SELECT progress FROM progress_writes WHERE job_id = ${id} ORDER BY at`;

/** An agent that stays running until `release()`, handing out its context. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  let ctx: JobContext | undefined;
  return {
    agent: async (_p: unknown, c: JobContext) => {
      ctx = c;
      await opened;
      return 'done';
    },
    ctx: () => waitFor(async () => ctx, 'the job to start'),
    release: () => open(),
  };
}

describe('ctx.progress', () => {
  it('writes a tight loop of 10,000 reports over a second a few times, and history keeps the last', async () => {
    await startWorker({
      agents: {
        busy: async (_p, ctx) => {
          const started = Date.now();
          for (let i = 1; i <= 10_000; i++) {
            ctx.progress(i / 100, { done: i });
            if (i % 100 === 0) await new Promise((r) => setTimeout(r, Math.max(0, started + i / 10 - Date.now())));
          }
          return 'ok';
        },
      },
    });
    await harness.jobs.createJob(agentJob('busy', 'busy'));
    const job = await finished('busy');
    const written = await writes('busy');
    // One at once, at most one per second after, and the last at the end.
    expect(written.length).toBeGreaterThanOrEqual(2);
    expect(written.length).toBeLessThanOrEqual(4);
    expect(written[0]!.progress).toEqual({ percent: 0.01, details: { done: 1 } });
    expect(job.progress).toEqual({ percent: 100, details: { done: 10_000 } });
  });

  it('shows the progress of a running job in getJob, explain and --status', async () => {
    const g = gate();
    await startWorker({ agents: { slow: g.agent } });
    await harness.jobs.createJob(agentJob('slow', 'slow'));
    (await g.ctx()).progress(40, { step: 'upload' });
    const running = await waitFor(async () => ((await harness.jobs.getJob('slow'))?.progress ? harness.jobs.getJob('slow') : null), 'progress to be stored');
    expect(running!.progress).toEqual({ percent: 40, details: { step: 'upload' } });
    expect((await harness.jobs.explain("slow"))!.summary).toContain('progress 40% (step: "upload")');
    // Unprepared, and not one connection: in CI's pooling pass db.url goes through pgbouncer in
    // transaction mode, where the status's nine concurrent reads pipelined on one connection hang.
    const sql = postgres(db.url, { max: 10, prepare: false, onnotice: () => {} });
    const status = await readStatus(sql as never).finally(() => sql.end());
    expect(status.running.progress).toMatchObject([{ jobId: 'slow', name: 'slow', progress: { percent: 40, details: { step: 'upload' } } }]);
    expect(formatStatus(status)).toMatch(/Progress of running jobs[\s\S]*slow\s+slow\s+40% \(step: "upload"\)/);
    g.release();
    expect((await finished('slow')).progress).toEqual({ percent: 40, details: { step: 'upload' } });
  });

  it('refuses a bad value with a ValidationError naming the field, and writes nothing', async () => {
    const errors: unknown[] = [];
    await startWorker({
      agents: {
        bad: (_p, ctx) => {
          for (const [value, details] of [[101, undefined], [-1, undefined], [Number.NaN, undefined], ['half', undefined], [50, 'x'], [50, { big: 'x'.repeat(5000) }]] as const) {
            try {
              ctx.progress(value as number, details as never);
            } catch (error) {
              errors.push(error);
            }
          }
          return 'ok';
        },
      },
    });
    await harness.jobs.createJob(agentJob('bad', 'bad'));
    expect((await finished('bad')).progress).toBeNull();
    expect(errors.map((e) => (e instanceof ValidationError ? e.field : e))).toEqual([
      'progress.percent', 'progress.percent', 'progress.percent', 'progress.percent', 'progress.details', 'progress.details',
    ]);
    expect(await writes('bad')).toEqual([]);
  });

  it('changes nothing once the lease is lost: a stale worker cannot write progress', async () => {
    const g = gate();
    await startWorker({ agents: { slow: g.agent } });
    await harness.jobs.createJob(agentJob('stale', 'slow'));
    const ctx = await g.ctx();
    // Another worker took the job back (as a rescue does): the lease is no longer this worker's.
    await db.sql`UPDATE taiat_jobs SET lease_owner = 'someone-else', progress = '{"percent": 5, "details": null}' WHERE id = 'stale'`;
    ctx.progress(90);
    const t = schemaNames('public');
    expect(await writeProgress(db.sql as never, t, { jobId: 'stale', workerId: ctx.job.workerId!, attempt: ctx.job.attempts, step: 0 }, { percent: 91, details: null })).toBe(false);
    expect(await writeProgress(db.sql as never, t, { jobId: 'stale', workerId: 'someone-else', attempt: ctx.job.attempts, step: 1 }, { percent: 92, details: null })).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect((await harness.jobs.getJob('stale'))!.progress).toEqual({ percent: 5, details: null });
    g.release();
  });

  it('clears the progress when the job goes back to pending for a retry or a waitFor step', async () => {
    let attempt = 0;
    await startWorker({
      agents: {
        twice: async (_p, ctx) => {
          attempt += 1;
          if (attempt === 1) {
            ctx.progress(70);
            throw new Error('first attempt fails');
          }
          return (await harness.jobs.getJob(ctx.job.id))!.progress;
        },
      },
    });
    await harness.jobs.createJob(agentJob('twice', 'twice', [], { maxRetries: 1, retryDelaySeconds: 0.1 }));
    expect((await finished('twice')).result).toBeNull();
    expect(await writes('twice')).toEqual([{ progress: { percent: 70, details: null } }]);
  });

  it('starts a waitFor step with no progress, and the step before cannot write to it', async () => {
    let stale: JobContext | undefined;
    await startWorker({
      agents: {
        leaf: () => 'leaf',
        parent: async (_p, ctx) => {
          if (ctx.job.step === 0) {
            ctx.progress(30);
            stale = ctx;
            const [child] = await ctx.createJobs([agentJob('leaf-1', 'leaf')]);
            return ctx.waitFor([child!.id]);
          }
          const seen = (await harness.jobs.getJob(ctx.job.id))!.progress;
          // The first step's context, reporting late: its attempt number is 1 again, but not its step.
          stale!.progress(99);
          await new Promise((r) => setTimeout(r, 100));
          return { seen, after: (await harness.jobs.getJob(ctx.job.id))!.progress };
        },
      },
    });
    await harness.jobs.createJob(agentJob('stepper', 'parent'));
    expect((await finished('stepper')).result).toEqual({ seen: null, after: null });
  });
});
