import { Cron } from 'croner';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { checkGraph } from './graph.js';
import { checkJobList, validateJobRange, validateNewJob, type NewJob } from './validation.js';

/** What a schedule's tick does when ticks were missed (no worker alive when they fell due). */
export const CATCH_UP = ['skip', 'latest', 'all'] as const;
export type CatchUp = (typeof CATCH_UP)[number];

/** A schedule, as declared (API, CLI, or an agents module's `schedules` export). */
export interface ScheduleDefinition {
  /** A cron expression: 5 fields, or 6 with seconds first (`0 3 * * *`, `* /10 * * * * *`). One of `cron` and `every`. */
  cron?: string;
  /** An interval: `30s`, `15m`, `2h`, `1d`, or seconds (at least 1), as a number or digits (`90`, `'90'`). Ticks fall on multiples of it since the epoch. */
  every?: string | number;
  /** An IANA time zone for `cron` (default `UTC`). */
  timeZone?: string;
  /** What each tick creates: one job, or a graph (ids of its jobs are made unique per tick). */
  job: NewJob | NewJob[];
  /**
   * Ticks missed (more than a minute late: no worker was alive when they fell due): `skip`
   * (default) runs none of them, `latest` runs one for all of them, `all` runs each (up to
   * `catchUpLimit`). A tick less than a minute late runs whatever the policy.
   */
  catchUp?: CatchUp;
  /** With `catchUp: 'all'`: most missed ticks run at once, the most recent (default 100). */
  catchUpLimit?: number;
  /** Created paused (default false). */
  paused?: boolean;
}

/** A validated schedule definition. */
export interface ValidatedSchedule {
  id: string;
  cron: string | null;
  everySeconds: number | null;
  timeZone: string;
  template: NewJob | NewJob[];
  catchUp: CatchUp;
  catchUpLimit: number;
  paused: boolean;
}

/** A tick less than this late runs under `skip`: a worker busy for a moment is not downtime. */
export const SKIP_GRACE_SECONDS = 60;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** An interval in seconds, or a message saying why it is not one. */
function intervalSeconds(every: string | number): number | string {
  const seconds = typeof every === 'number' ? every : (() => {
    // No unit means seconds, as a number does: the CLI can only pass strings (`--every 90`).
    const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(every);
    return m ? Number(m[1]) * UNITS[m[2] || 's']! : NaN;
  })();
  if (!Number.isFinite(seconds)) return `'${every}' is not an interval (e.g. 30s, 15m, 2h, 1d, or a number of seconds)`;
  if (seconds < 1) return 'must be at least 1 second';
  if (seconds > 366 * 86_400) return 'must be at most a year';
  return seconds;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const scheduleSchema = z.strictObject(
  {
    cron: z.string({ error: 'cron must be a string' }).optional(),
    every: z.union([z.string(), z.number()], { error: 'every must be an interval such as 30s, 15m, 2h, 1d, or seconds' }).optional(),
    timeZone: z.string({ error: 'timeZone must be a string' }).optional(),
    job: z.unknown().optional(),
    catchUp: z.enum(CATCH_UP, { error: `catchUp must be one of ${CATCH_UP.join(', ')}` }).optional(),
    catchUpLimit: z.number({ error: 'catchUpLimit must be a number' }).int('catchUpLimit must be an integer')
      .min(1, 'catchUpLimit must be at least 1').max(10_000, 'catchUpLimit must be at most 10000').optional(),
    paused: z.boolean({ error: 'paused must be a boolean' }).optional(),
  },
  { error: (i) => (i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : 'a schedule must be an object') },
);

/**
 * Validates a schedule: its id, a cron expression (parsed by croner) or an interval, a time
 * zone, the job or graph each tick creates (validated as a create would, a graph's cycles
 * included), the catch-up policy. Throws a `ValidationError` naming the field.
 */
export function validateSchedule(id: unknown, input: unknown, where = ''): ValidatedSchedule {
  const at = (field: string) => [where, field].filter(Boolean).join('.');
  if (typeof id !== 'string' || id === '' || id.length > 200 || id.includes('\u0000')) {
    throw new ValidationError(where ? `${where}.id` : 'id', 'a schedule id must be a non-empty string of at most 200 characters');
  }
  const parsed = scheduleSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(at(issue.path.map(String).join('.')), issue.message);
  }
  const s = parsed.data;
  if ((s.cron === undefined) === (s.every === undefined)) throw new ValidationError(at('cron'), 'a schedule needs either cron or every, not both');
  const timeZone = s.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) throw new ValidationError(at('timeZone'), `'${timeZone}' is not an IANA time zone (e.g. Europe/Berlin)`);
  let everySeconds: number | null = null;
  if (s.every !== undefined) {
    const seconds = intervalSeconds(s.every);
    if (typeof seconds === 'string') throw new ValidationError(at('every'), seconds);
    everySeconds = seconds;
  }
  if (s.cron !== undefined) {
    try {
      new Cron(s.cron, { timezone: timeZone, paused: true });
    } catch (error) {
      throw new ValidationError(at('cron'), `'${s.cron}' is not a cron expression: ${(error as Error).message}`);
    }
  }
  if (s.job === undefined) throw new ValidationError(at('job'), 'job is required: a job, or a list of jobs (a graph)');
  if (Array.isArray(s.job)) {
    if (s.job.length === 0) throw new ValidationError(at('job'), 'a graph needs at least one job');
    try {
      checkJobList(s.job);
      checkGraph(validateJobRange(s.job, 0, s.job.length));
    } catch (error) {
      // Named as the caller wrote it: job[2].payload, not a create call's jobs[2].payload.
      if (!(error instanceof ValidationError) || !error.field.startsWith('jobs')) throw error;
      const field = at('job') + error.field.slice('jobs'.length);
      throw new ValidationError(field, error.message.slice(error.field.length + 2), error.code);
    }
  } else {
    validateNewJob(s.job, undefined, at('job'));
  }
  // A graph's ids grow by a suffix per tick: they must still fit.
  const longest = 200 - tickSuffix(id, new Date(0)).length;
  for (const [i, j] of (Array.isArray(s.job) ? s.job as NewJob[] : [s.job as NewJob]).entries()) {
    if (j.id !== undefined && j.id.length > longest) {
      throw new ValidationError(at(Array.isArray(s.job) ? `job[${i}].id` : 'job.id'), `must be at most ${longest} characters here: each tick adds ${200 - longest} to it`);
    }
  }
  return {
    id, cron: s.cron ?? null, everySeconds, timeZone, template: s.job as NewJob | NewJob[],
    catchUp: s.catchUp ?? 'skip', catchUpLimit: s.catchUpLimit ?? 100, paused: s.paused ?? false,
  };
}

/** The schedule's ticks after `after` (exclusive) up to `until` (inclusive), oldest first, at most `limit`. */
export function ticksBetween(s: Pick<ValidatedSchedule, 'cron' | 'everySeconds' | 'timeZone'>, after: Date, until: Date, limit: number): Date[] {
  const ticks: Date[] = [];
  if (s.everySeconds !== null) {
    const ms = s.everySeconds * 1000;
    for (let t = Math.floor(after.getTime() / ms) * ms + ms; t <= until.getTime() && ticks.length < limit; t += ms) ticks.push(new Date(t));
    return ticks;
  }
  const cron = new Cron(s.cron!, { timezone: s.timeZone, paused: true });
  for (let t = cron.nextRun(after); t && t.getTime() <= until.getTime() && ticks.length < limit; t = cron.nextRun(t)) ticks.push(t);
  return ticks;
}

/** The schedule's first tick after `after`. */
export function nextTick(s: Pick<ValidatedSchedule, 'cron' | 'everySeconds' | 'timeZone'>, after: Date): Date {
  if (s.everySeconds !== null) {
    const ms = s.everySeconds * 1000;
    return new Date(Math.floor(after.getTime() / ms) * ms + ms);
  }
  const next = new Cron(s.cron!, { timezone: s.timeZone, paused: true }).nextRun(after);
  // An expression that never fires again (a date long past): park it far away.
  return next ?? new Date('9999-01-01T00:00:00Z');
}

/**
 * The ticks due to run now, from those that fell due since the last one (oldest first). A tick
 * less than a minute late runs whatever the policy: a worker busy for a moment, or a pass that
 * came a second late, is not downtime. Older ones were missed, and follow the catch-up policy:
 * `skip` drops them, `latest` runs the most recent of them (one run for all), `all` runs each,
 * at most `limit` (the most recent ones).
 */
export function ticksToRun(due: Date[], policy: CatchUp, limit: number, now: Date): Date[] {
  const graceStart = now.getTime() - SKIP_GRACE_SECONDS * 1000;
  const firstOnTime = due.findIndex((t) => t.getTime() >= graceStart);
  const missed = firstOnTime === -1 ? due : due.slice(0, firstOnTime);
  const onTime = firstOnTime === -1 ? [] : due.slice(firstOnTime);
  const caughtUp = policy === 'skip' || missed.length === 0 ? [] : policy === 'latest' ? missed.slice(-1) : missed.slice(-limit);
  return [...caughtUp, ...onTime];
}

/**
 * The jobs of one tick: the template's, with the schedule and tick recorded, and the ids of a
 * graph made unique per tick (`<id>@<schedule>@<tick>`), its dependencies following.
 */
export function tickJobs(scheduleId: string, tick: Date, template: NewJob | NewJob[]): NewJob[] {
  const list = Array.isArray(template) ? template : [template];
  const suffix = tickSuffix(scheduleId, tick);
  const ids = new Set(list.map((j) => j.id).filter((id): id is string => id !== undefined));
  return list.map((j) => ({
    ...j,
    ...(j.id === undefined ? {} : { id: `${j.id}${suffix}` }),
    ...(j.dependencies === undefined ? {} : { dependencies: j.dependencies.map((d) => (ids.has(d) ? `${d}${suffix}` : d)) }),
  }));
}

function tickSuffix(scheduleId: string, tick: Date): string {
  return `@${scheduleId}@${tick.toISOString()}`;
}
