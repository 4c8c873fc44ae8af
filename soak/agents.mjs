// Agents of the soak test (soak/run.ts), loaded by every `taiat-worker --agents soak/agents.mjs`.
//
// Every run is recorded twice, independently of taiat's own bookkeeping:
//  - in the table soak_runs, through a postgres.js connection of this module's own
//    (application_name 'soak agents', so the soak's pg_terminate_backend never picks it);
//  - in a journal file per process (SOAK_RUN_DIR/journal-<pid>.jsonl), appended synchronously, so
//    a run whose database write could not happen (Postgres restarting, process exiting right
//    after a shutdown abort) is still known. The soak merges both before checking.
// Times are the wall clock of this host (the driver's and, for the embedded server, Postgres's),
// shifted by SOAK_CLOCK_OFFSET_MS (server clock minus local clock) when the server is remote.
//
// Behaviour is fully decided by the job's parameters (chosen by the driver's seeded generator):
//   work:     { sleepMs, failFirst?: n | 'always', hangAttempts?: number[] | 'always' }
//             sleeps (honouring ctx.signal); throws on the first `failFirst` attempts; on a hang
//             attempt waits for its signal (a timeout, a cancel, a shutdown).
//   delegate: { sleepMs, children: WorkParams+{maxRetries, retryDelaySeconds}[] }
//             step 0 creates the children with ctx.createJobs and returns ctx.waitFor(ids);
//             step 1 checks their results are all there and returns.
//   tick:     { sleepMs } the job of a schedule's tick (soak/schedules.ts): sleeps and returns;
//             a job that does not know its schedule and tick is an anomaly.
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { wallNow } from '../bench/lib/wall-clock.mjs';
import postgres from 'postgres';

const WAIT_FOR = Symbol.for('taiat.waitFor');
const OFFSET_MS = Number(process.env.SOAK_CLOCK_OFFSET_MS ?? 0) || 0;
const RUN_DIR = process.env.SOAK_RUN_DIR;
const JOURNAL = RUN_DIR ? path.join(RUN_DIR, `journal-${process.pid}.jsonl`) : null;

// A worker never outlives the soak driver (should the driver itself be killed with SIGKILL).
const DRIVER = Number(process.env.SOAK_DRIVER_PID) || 0;
if (DRIVER) {
  setInterval(() => {
    if (process.ppid !== DRIVER) process.kill(process.pid, 'SIGKILL');
  }, 1_000).unref();
}

const sql = postgres(process.env.TAIAT_DATABASE_URL, {
  max: 2,
  connect_timeout: 5,
  onnotice: () => {},
  connection: { application_name: 'soak agents' },
});

/** Wall-clock milliseconds (sub-millisecond precision), in the server's clock. */
const nowMs = () => wallNow() + OFFSET_MS;
const ts = (ms) => new Date(ms).toISOString().replace('Z', `${String(Math.floor((ms % 1) * 1000)).padStart(3, '0')}Z`);

function jot(record) {
  if (!JOURNAL) return;
  try {
    appendFileSync(JOURNAL, `${JSON.stringify(record)}\n`);
  } catch {
    // The journal is a fallback; never fail a job because of it.
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries a database write (Postgres may be restarting) for up to `budgetMs`; never throws. */
async function persist(what, runId, write, budgetMs = 15_000) {
  const until = Date.now() + budgetMs;
  for (let i = 0; ; i++) {
    try {
      return await write();
    } catch (error) {
      if (Date.now() > until) {
        jot({ type: 'db-error', run_id: runId, what, error: String(error?.message ?? error), at: nowMs() });
        return undefined;
      }
      await pause(Math.min(1_000, 50 * 2 ** i));
    }
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error(`aborted: ${signal.reason}`));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error(`aborted: ${signal.reason}`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Runs `body` as one recorded run: start (before anything), abort time (when the signal aborts),
 * end and outcome (before returning, so the row is complete before the worker writes the outcome).
 */
async function recorded(ctx, body) {
  const runId = randomUUID();
  const startedAt = nowMs();
  const run = { run_id: runId, job_id: ctx.job.id, attempt: ctx.attempt, step: ctx.job.step, pid: process.pid };
  jot({ type: 'start', ...run, at: startedAt });
  let abortedAt = null;
  const onAbort = () => {
    abortedAt = nowMs();
    jot({ type: 'abort', run_id: runId, at: abortedAt, reason: String(ctx.signal.reason) });
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  const inserted = persist('start', runId, () => sql`
    INSERT INTO soak_runs (run_id, job_id, attempt, step, pid, started_at)
    VALUES (${runId}, ${run.job_id}, ${run.attempt}, ${run.step}, ${run.pid}, ${ts(startedAt)}::text::timestamptz)
    ON CONFLICT (run_id) DO NOTHING`);

  let outcome = 'completed';
  try {
    const result = await body(runId, inserted);
    if (result && typeof result === 'object' && WAIT_FOR in result) outcome = 'waiting';
    return result;
  } catch (error) {
    outcome = ctx.signal.aborted ? `aborted:${ctx.signal.reason}` : `failed:${String(error?.message ?? error).slice(0, 200)}`;
    throw error;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    const endedAt = nowMs();
    jot({ type: 'end', run_id: runId, at: endedAt, outcome });
    await inserted;
    await persist('end', runId, () => sql`
      UPDATE soak_runs SET ended_at = ${ts(endedAt)}::text::timestamptz, outcome = ${outcome},
             aborted_at = ${abortedAt === null ? null : ts(abortedAt)}::text::timestamptz,
             abort_reason = ${abortedAt === null ? null : String(ctx.signal.reason)}
       WHERE run_id = ${runId}`);
  }
}

function failsOn(rule, attempt) {
  if (rule === 'always') return true;
  if (Array.isArray(rule)) return rule.includes(attempt);
  return typeof rule === 'number' && attempt <= rule;
}

/** Every dependency of the job as claimed completed, so its result must be there. */
function missingResults(ctx) {
  return ctx.job.dependencies.filter((id) => !Object.hasOwn(ctx.dependencyResults, id));
}

async function anomaly(runId, inserted, text) {
  jot({ type: 'anomaly', run_id: runId, text, at: nowMs() });
  await inserted;
  await persist('anomaly', runId, () => sql`UPDATE soak_runs SET anomaly = ${text} WHERE run_id = ${runId}`);
}

export const agents = {
  work: (params, ctx) =>
    recorded(ctx, async (runId, inserted) => {
      const missing = missingResults(ctx);
      if (missing.length > 0) await anomaly(runId, inserted, `started without the results of dependencies ${missing.join(', ')}`);
      if (failsOn(params.hangAttempts, ctx.attempt)) await sleep(3_600_000, ctx.signal);
      await sleep(params.sleepMs ?? 0, ctx.signal);
      if (failsOn(params.failFirst, ctx.attempt)) throw new Error(`planned failure of attempt ${ctx.attempt}`);
      return { attempt: ctx.attempt, pid: process.pid };
    }),

  tick: (params, ctx) =>
    recorded(ctx, async (runId, inserted) => {
      if (!ctx.job.scheduleId || !(ctx.job.scheduleTick instanceof Date)) {
        await anomaly(runId, inserted, `a schedule's job without its schedule (${ctx.job.scheduleId}) or tick (${ctx.job.scheduleTick})`);
      }
      await sleep(params.sleepMs ?? 0, ctx.signal);
      return { tick: ctx.job.scheduleTick?.toISOString?.() ?? null };
    }),

  delegate: (params, ctx) =>
    recorded(ctx, async (runId, inserted) => {
      const missing = missingResults(ctx);
      if (missing.length > 0) await anomaly(runId, inserted, `step ${ctx.job.step} started without the results of ${missing.join(', ')}`);
      if (ctx.job.step === 0) {
        await sleep(params.sleepMs ?? 0, ctx.signal);
        const children = await ctx.createJobs(
          params.children.map((c, i) => ({
            jobType: 'agent',
            name: `${ctx.job.name}/child-${i}`,
            queue: ctx.job.queue,
            maxRetries: c.maxRetries,
            retryDelaySeconds: c.retryDelaySeconds,
            payload: { agent_name: 'work', parameters: { sleepMs: c.sleepMs, failFirst: c.failFirst ?? 0 } },
          })),
        );
        const ids = children.map((c) => c.id);
        jot({ type: 'children', run_id: runId, ids, at: nowMs() });
        await inserted;
        await persist('children', runId, () => sql`UPDATE soak_runs SET children = ${ids}::text[] WHERE run_id = ${runId}`);
        if (ctx.signal.aborted) throw new Error(`aborted: ${ctx.signal.reason}`);
        return ctx.waitFor(ids);
      }
      await sleep(params.sleepMs ?? 0, ctx.signal);
      return { step: ctx.job.step, children: ctx.job.dependencies.length };
    }),
};
