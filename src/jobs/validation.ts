import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { findJsonProblem } from './json-check.js';
import { PRIORITIES, type JsonObject, type PriorityName } from './model.js';
import { newJobId } from './ids.js';

/** What a caller passes to `createJob` / `createJobs`. */
export interface NewJob {
  /** `agent`, `query`, or any other non-empty name a custom executor handles. */
  jobType: string;
  name: string;
  description?: string | null;
  /** A JSON object. Agent jobs need `agent_name` (string) and may carry `parameters` (object). */
  payload?: JsonObject;
  /** Ids of jobs (existing, or in the same `createJobs` call) this job waits for. */
  dependencies?: string[];
  /** `low`, `normal` (default), `high`, `urgent`, or an integer; higher runs first. */
  priority?: PriorityName | number;
  /** Retries after a failed attempt (default 3). */
  maxRetries?: number;
  /** Default `default`. */
  queue?: string;
  /** Not before this time (default: now). */
  runAt?: Date | string;
  /** Caller-chosen id; default: a new time-ordered UUIDv7. */
  id?: string;
  /** Abort an attempt after this many seconds. */
  timeoutSeconds?: number;
  /** Base of the exponential retry backoff for this job (default: the worker's). */
  retryDelaySeconds?: number;
  /**
   * A key no two jobs hold at once (see `uniqueWhile`): a create that meets a job holding it
   * returns that job, marked `deduplicated`, instead of creating one. A keyed job is known by its
   * key: it takes no `id`.
   */
  uniqueKey?: string;
  /**
   * How long the job holds its key: `pending` (default: until it first starts), `active` (until
   * it finishes), or `period` (`uniquePeriodSeconds` from its creation, whatever it does).
   */
  uniqueWhile?: UniqueWhile;
  /** With `uniqueWhile: 'period'`: seconds the key is held (1 to a year). */
  uniquePeriodSeconds?: number;
  /**
   * `keep` (default): the job holding the key is returned unchanged. `replace`: a pending holder
   * takes this job's payload and `runAt` (debounce); a running one is returned unchanged.
   */
  uniqueMode?: 'keep' | 'replace';
  /**
   * A key naming who the job runs for (a tenant id, say): its queue's per-key limits count the
   * running jobs of each key apart. At most 200 characters. Says nothing about uniqueness.
   */
  concurrencyKey?: string;
}

export const UNIQUE_WHILE = ['pending', 'active', 'period'] as const;
export type UniqueWhile = (typeof UNIQUE_WHILE)[number];

/** A validated job, ready to insert. */
export interface ValidatedJob {
  id: string;
  idChosen: boolean;
  jobType: string;
  name: string;
  description: string | null;
  payload: JsonObject;
  /** `payload` as JSON, made once for the size check and reused for the insert. */
  payloadJson: string;
  dependencies: string[];
  priority: number;
  maxRetries: number;
  queue: string;
  runAt: Date | null;
  timeoutSeconds: number | null;
  retryDelaySeconds: number | null;
  uniqueKey: string | null;
  uniqueWhile: UniqueWhile | null;
  uniquePeriodSeconds: number | null;
  uniqueMode: 'keep' | 'replace';
  /** Set by the scheduler on the jobs of a tick. */
  scheduleId: string | null;
  scheduleTick: Date | null;
  /** `NewJob.concurrencyKey`, null when not given. */
  concurrencyKey: string | null;
}

export interface ValidationLimits {
  /** Largest payload, in bytes of JSON (default 1 MiB). */
  maxPayloadBytes: number;
  /** Most dependencies one job may have (default 10,000). */
  maxDependencies: number;
  /** Most jobs in one `createJobs` call (default 100,000). */
  maxJobsPerCall: number;
}

export const DEFAULT_LIMITS: ValidationLimits = {
  maxPayloadBytes: 1024 * 1024,
  maxDependencies: 10_000,
  maxJobsPerCall: 100_000,
};

/** Text Postgres can store: no NUL character, no lone surrogate. */
const storable = (schema: z.ZodString, what: string) =>
  schema
    .refine((s) => !s.includes('\u0000'), `${what} must not contain a NUL character`)
    .refine((s) => s.isWellFormed(), `${what} must be well-formed Unicode (it has a lone surrogate)`);

const text = (what: string, max: number) =>
  storable(
    z
      .string({ error: (i) => (i.input === undefined ? `${what} is required` : `${what} must be a string`) })
      .min(1, `${what} must not be empty`)
      .max(max, `${what} must be at most ${max} characters`),
    what,
  );

const priorityNames = Object.keys(PRIORITIES).join(', ');

const newJobSchema = z.strictObject(
  {
    jobType: text('jobType', 200),
    name: text('name', 1000),
    description: storable(
      z.string({ error: 'description must be a string' }).max(100_000, 'description must be at most 100000 characters'),
      'description',
    ).nullish(),
    payload: z.unknown().optional(),
    dependencies: z
      .array(text('a dependency id', 200), { error: 'dependencies must be an array of job ids' })
      .optional(),
    priority: z
      .union([z.string(), z.number()], { error: `priority must be one of ${priorityNames} or an integer` })
      .optional()
      .superRefine((p, ctx) => {
        if (p === undefined) return;
        if (typeof p === 'string' && !Object.hasOwn(PRIORITIES, p)) {
          ctx.addIssue({ code: 'custom', message: `unknown priority '${p}' (expected ${priorityNames} or an integer)` });
        } else if (typeof p === 'number' && (!Number.isInteger(p) || Math.abs(p) > 1_000_000)) {
          ctx.addIssue({ code: 'custom', message: 'priority must be an integer between -1000000 and 1000000' });
        }
      }),
    maxRetries: z
      .number({ error: 'maxRetries must be a number' })
      .int('maxRetries must be an integer')
      .min(0, 'maxRetries must not be negative')
      .max(1000, 'maxRetries must be at most 1000')
      .optional(),
    queue: text('queue', 200).optional(),
    runAt: z
      // Any Date, even an invalid one, so that it is told it is not a valid date rather than not a Date.
      .union([z.instanceof(Date), z.string()], { error: 'runAt must be a Date or an ISO 8601 string' })
      .optional()
      .refine((d) => d === undefined || !Number.isNaN(new Date(d).getTime()), 'runAt is not a valid date')
      // Postgres has no year 0, and JavaScript's dates reach past its last one.
      .refine((d) => d === undefined || Number.isNaN(new Date(d).getTime()) || inYears(new Date(d)), 'runAt must be within the years 1 to 9999'),
    id: text('id', 200).optional(),
    timeoutSeconds: z
      .number({ error: 'timeoutSeconds must be a number' })
      .positive('timeoutSeconds must be positive')
      .max(365 * 24 * 3600, 'timeoutSeconds must be at most a year')
      .optional(),
    retryDelaySeconds: z
      .number({ error: 'retryDelaySeconds must be a number' })
      .min(0, 'retryDelaySeconds must not be negative')
      .max(7 * 24 * 3600, 'retryDelaySeconds must be at most a week')
      .optional(),
    uniqueKey: text('uniqueKey', 200).optional(),
    uniqueWhile: z.enum(UNIQUE_WHILE, { error: `uniqueWhile must be one of ${UNIQUE_WHILE.join(', ')}` }).optional(),
    uniquePeriodSeconds: z
      .number({ error: 'uniquePeriodSeconds must be a number' })
      .min(1, 'uniquePeriodSeconds must be at least 1')
      .max(365 * 24 * 3600, 'uniquePeriodSeconds must be at most a year')
      .optional(),
    uniqueMode: z.enum(['keep', 'replace'], { error: 'uniqueMode must be keep or replace' }).optional(),
    concurrencyKey: text('concurrencyKey', 200).optional(),
  },
  { error: (i) => (i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : 'a job must be an object') },
);

function fail(prefix: string, field: string, reason: string): never {
  throw new ValidationError([prefix, field].filter(Boolean).join('.'), reason);
}

/**
 * Validates one job definition. `prefix` names it in errors (e.g. `jobs[3]`). Throws a
 * `ValidationError` naming the field and the reason.
 */
/** Whether a date falls within the years 1 to 9999 (UTC). */
function inYears(date: Date): boolean {
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999;
}

export function validateNewJob(input: unknown, limits: ValidationLimits = DEFAULT_LIMITS, prefix = ''): ValidatedJob {
  const parsed = newJobSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(prefix, issue.path.map(String).join('.'), issue.message);
  }
  const job = parsed.data;
  const payload = job.payload ?? {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    fail(prefix, 'payload', 'must be a JSON object');
  }
  const problem = findJsonProblem(payload, 'payload');
  if (problem) fail(prefix, problem[0], problem[1]);
  // Measured before anything is sent: string length is a lower bound, bytes only when it matters.
  const json = JSON.stringify(payload);
  const size = json.length * 3 <= limits.maxPayloadBytes ? json.length : Buffer.byteLength(json);
  if (size > limits.maxPayloadBytes) {
    fail(prefix, 'payload', `is ${size} bytes of JSON, more than the limit of ${limits.maxPayloadBytes}`);
  }
  const obj = payload as JsonObject;
  if (job.jobType === 'agent') {
    if (typeof obj.agent_name !== 'string' || obj.agent_name === '') {
      fail(prefix, 'payload.agent_name', 'an agent job needs payload.agent_name (a non-empty string)');
    }
    const params = obj.parameters;
    if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
      fail(prefix, 'payload.parameters', 'must be a JSON object');
    }
  }
  const dependencies = job.dependencies === undefined || job.dependencies.length === 0 ? [] : [...new Set(job.dependencies)];
  if (dependencies.length > limits.maxDependencies) {
    fail(prefix, 'dependencies', `has ${dependencies.length} entries, more than the limit of ${limits.maxDependencies}`);
  }
  const priority = job.priority === undefined ? PRIORITIES.normal : typeof job.priority === 'string' ? PRIORITIES[job.priority as PriorityName] : job.priority;
  checkUnique(job, prefix);
  const uniqueWhile = job.uniqueKey === undefined ? null : job.uniqueWhile ?? 'pending';
  return {
    id: job.id ?? newJobId(),
    idChosen: job.id !== undefined,
    jobType: job.jobType,
    name: job.name,
    description: job.description ?? null,
    payload: payload as JsonObject,
    payloadJson: json,
    dependencies,
    priority,
    maxRetries: job.maxRetries ?? 3,
    queue: job.queue ?? 'default',
    runAt: job.runAt === undefined ? null : new Date(job.runAt),
    timeoutSeconds: job.timeoutSeconds ?? null,
    retryDelaySeconds: job.retryDelaySeconds ?? null,
    uniqueKey: job.uniqueKey ?? null,
    uniqueWhile,
    uniquePeriodSeconds: job.uniquePeriodSeconds ?? null,
    uniqueMode: job.uniqueMode ?? 'keep',
    scheduleId: null,
    scheduleTick: null,
    concurrencyKey: job.concurrencyKey ?? null,
  };
}

/** The rules between the unique fields, which no single field's schema can say. */
function checkUnique(job: Pick<NewJob, 'id' | 'uniqueKey' | 'uniqueWhile' | 'uniquePeriodSeconds' | 'uniqueMode'>, prefix: string): void {
  if (job.uniqueKey === undefined) {
    for (const field of ['uniqueWhile', 'uniquePeriodSeconds', 'uniqueMode'] as const) {
      if (job[field] !== undefined) fail(prefix, field, `${field} needs a uniqueKey`);
    }
    return;
  }
  if (job.id !== undefined) fail(prefix, 'id', 'a job with a uniqueKey is known by its key and takes no id');
  const period = job.uniqueWhile === 'period';
  if (period && job.uniquePeriodSeconds === undefined) fail(prefix, 'uniquePeriodSeconds', "uniqueWhile 'period' needs uniquePeriodSeconds");
  if (!period && job.uniquePeriodSeconds !== undefined) fail(prefix, 'uniquePeriodSeconds', "uniquePeriodSeconds goes with uniqueWhile 'period'");
  if (period && job.uniqueMode === 'replace') fail(prefix, 'uniqueMode', "uniqueMode 'replace' goes with uniqueWhile 'pending' or 'active'");
}

/** Checks a `createJobs` list itself: an array, within the per-call limit. */
export function checkJobList(input: unknown, limits: ValidationLimits = DEFAULT_LIMITS): asserts input is unknown[] {
  if (!Array.isArray(input)) throw new ValidationError('jobs', 'must be an array of jobs');
  if (input.length > limits.maxJobsPerCall) {
    throw new ValidationError('jobs', `has ${input.length} jobs, more than the limit of ${limits.maxJobsPerCall} per call`);
  }
}

/** Validates `input[from..to)` of a checked list, naming jobs by their index (`jobs[i]`). */
export function validateJobRange(input: unknown[], from: number, to: number, limits: ValidationLimits = DEFAULT_LIMITS): ValidatedJob[] {
  const jobs = new Array<ValidatedJob>(to - from);
  for (let i = from; i < to; i++) jobs[i - from] = validateNewJob(input[i], limits, `jobs[${i}]`);
  return jobs;
}

/**
 * Whether a job, as given, is independent: no caller-chosen id, no dependencies, no unique key (a
 * concurrency key is no matter). Such jobs need no graph check and can be inserted in any
 * grouping. Says nothing about validity.
 */
export function isIndependentInput(input: unknown): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const { id, dependencies, uniqueKey } = input as { id?: unknown; dependencies?: unknown; uniqueKey?: unknown };
  return id === undefined && uniqueKey === undefined && (dependencies === undefined || (Array.isArray(dependencies) && dependencies.length === 0));
}
