/**
 * The schedules scenario: SCHEDULE_COUNT schedules of one tick a second, each tick one job of the
 * `tick` agent on the soak's queue, declared through JobManager when the load starts and paused
 * when it ends. Most catch up after downtime by the default (`skip`); some by `latest`, some by
 * `all` (with the default limit, and with a limit of 2). The soak's downtimes last seconds, and a
 * tick under a minute late runs whatever the policy: every policy runs every tick here.
 */
import type { JobManager } from '../dist/index.js';
import { sleep, TimeoutError } from '../bench/lib/time.js';
import { log, wallMs } from './clock.js';
import { DB_RETRY_MS, QUEUE, scheduleRng } from './config.js';
import { managerCall } from './database.js';
import { describe, isTransient, isUnexpectedDbError } from './db-errors.js';
import { schedules, violation, type SoakSchedule } from './state.js';

export const SCHEDULE_COUNT = 200;
export const TICK_SECONDS = 1;

/** One schedule in eight catches up by `latest`, one by `all`, one by `all` limited to 2 ticks; the rest skip. */
function policy(i: number): Pick<SoakSchedule, 'catchUp' | 'catchUpLimit'> {
  switch (i % 8) {
    case 1: return { catchUp: 'latest', catchUpLimit: 100 };
    case 2: return { catchUp: 'all', catchUpLimit: 100 };
    case 3: return { catchUp: 'all', catchUpLimit: 2 };
    default: return { catchUp: 'skip', catchUpLimit: 100 };
  }
}

/** A JobManager call retried while the database is unreachable (the calls here are idempotent). */
async function retried<T>(what: string, fn: (m: JobManager) => Promise<T>): Promise<T> {
  const deadline = Date.now() + DB_RETRY_MS;
  for (;;) {
    try {
      return await managerCall(what, fn);
    } catch (error) {
      const retriable = isTransient(error) || error instanceof TimeoutError || isUnexpectedDbError(error);
      if (!retriable || Date.now() > deadline) throw new Error(`${what}: ${describe(error)}`, { cause: error });
      await sleep(250);
    }
  }
}

/** Declares the schedules; their first tick is the first whole second after each is declared. */
export async function declareSchedules(): Promise<void> {
  const started = wallMs();
  const planned = Array.from({ length: SCHEDULE_COUNT }, (_, i) => ({
    id: `tick-${String(i).padStart(3, '0')}`, ...policy(i), sleepMs: scheduleRng.int(0, 100),
  }));
  await Promise.all(planned.map(async (p) => {
    const s: SoakSchedule = { ...p, declaredAt: wallMs(), declareAckedAt: null, pausedAt: null, pauseAckedAt: null };
    schedules.push(s);
    await retried(`upsertSchedule ${s.id}`, (m) => m.upsertSchedule(s.id, {
      every: TICK_SECONDS,
      catchUp: s.catchUp,
      catchUpLimit: s.catchUpLimit,
      job: { jobType: 'agent', name: `tick ${s.id}`, queue: QUEUE, maxRetries: 5, payload: { agent_name: 'tick', parameters: { sleepMs: s.sleepMs } } },
    }));
    s.declareAckedAt = wallMs();
  }));
  log(`${SCHEDULE_COUNT} schedules declared (every ${TICK_SECONDS} s) in ${Math.round(wallMs() - started)} ms`);
}

/** Pauses every schedule, then checks that none is left running. */
export async function pauseSchedules(): Promise<void> {
  const started = wallMs();
  await Promise.all(schedules.map(async (s) => {
    s.pausedAt = wallMs();
    await retried(`pauseSchedule ${s.id}`, (m) => m.pauseSchedule(s.id));
    s.pauseAckedAt = wallMs();
  }));
  const running = (await retried('listSchedules', (m) => m.listSchedules())).filter((s) => !s.paused);
  if (running.length > 0) violation('schedule-pause', null, `${running.length} schedule(s) not paused after pauseSchedule: ${running.map((s) => s.id).join(', ')}`);
  log(`schedules paused in ${Math.round(wallMs() - started)} ms`);
}
