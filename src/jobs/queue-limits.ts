import { z } from 'zod';
import { ValidationError } from '../errors.js';

/** At most `limit` claims in any window of `periodSeconds` (a sliding window). */
export interface RateLimit {
  limit: number;
  periodSeconds: number;
}

/**
 * A queue's limits (docs/flow-control.md). In `setQueueLimits`, a field left out keeps its value
 * and `null` removes that limit.
 */
export interface QueueLimits {
  /** At most this many jobs of the queue running at once, across all workers. */
  concurrency?: number | null;
  /** At most this many running jobs of one `concurrencyKey` (unless the key has its own limits). */
  keyConcurrency?: number | null;
  /** At most this many claims of the queue in any window of the period. */
  rateLimit?: RateLimit | null;
  /** The same for each `concurrencyKey` (unless the key has its own limits). */
  keyRateLimit?: RateLimit | null;
}

/** One concurrency key's limits, in place of its queue's `keyConcurrency` and `keyRateLimit`. */
export interface KeyLimits {
  concurrency?: number | null;
  rateLimit?: RateLimit | null;
}

/** The longest a queue name or a concurrency key may be (as a job id). */
export const NAME_LIMIT = 200;

const count = (field: string) => z.number({ error: `${field} must be a number` }).int(`${field} must be an integer`)
  .min(1, `${field} must be at least 1 (remove a limit with null)`).max(1_000_000, `${field} must be at most 1000000`);

const rate = (field: string) => z.strictObject({
  limit: count(`${field}.limit`),
  periodSeconds: z.number({ error: `${field}.periodSeconds must be a number of seconds` })
    .min(0.001, `${field}.periodSeconds must be at least 0.001`).max(31_536_000, `${field}.periodSeconds must be at most a year`),
}, { error: (i) => (i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : `${field} must be { limit, periodSeconds } or null`) });

const unknownFields = { error: (i: { code: string; keys?: string[] }) => (i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys!.join(', ')}` : 'limits must be an object') };

const queueLimitsSchema = z.strictObject({
  concurrency: count('concurrency').nullable().optional(),
  keyConcurrency: count('keyConcurrency').nullable().optional(),
  rateLimit: rate('rateLimit').nullable().optional(),
  keyRateLimit: rate('keyRateLimit').nullable().optional(),
}, unknownFields);

const keyLimitsSchema = z.strictObject({
  concurrency: count('concurrency').nullable().optional(),
  rateLimit: rate('rateLimit').nullable().optional(),
}, unknownFields);

/** Checks a queue name or a concurrency key: a non-empty string of at most 200 characters. */
export function checkName(value: unknown, field: string, what: string): string {
  if (typeof value !== 'string' || value === '' || value.length > NAME_LIMIT || value.includes('\u0000')) {
    throw new ValidationError(field, `${what} must be a non-empty string of at most ${NAME_LIMIT} characters`);
  }
  return value;
}

function parse<T extends z.ZodType>(schema: T, input: unknown, where: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new ValidationError([where, ...issue.path.map(String)].filter(Boolean).join('.'), issue.message);
}

/** Validates queue limits; throws a `ValidationError` naming the field. */
export function validateQueueLimits(input: unknown, where = ''): QueueLimits {
  return parse(queueLimitsSchema, input, where);
}

/** Validates one key's limits; throws a `ValidationError` naming the field. */
export function validateKeyLimits(input: unknown, where = ''): KeyLimits {
  return parse(keyLimitsSchema, input, where);
}

/** A queue's limits as an agents module declares them (`export const queues = { name: ... }`). */
export interface QueueDeclaration extends QueueLimits {
  /** Keys with limits of their own. */
  keys?: Record<string, KeyLimits>;
}

/** A validated declaration: every limit set or null (what a module leaves out, it does not limit). */
export interface ValidatedQueueDeclaration {
  name: string;
  limits: { [K in keyof QueueLimits]-?: Exclude<QueueLimits[K], undefined> };
  keys: { key: string; limits: KeyLimits }[];
}

/** Validates a module's queue declaration; errors name the field under `where` (`queues.reports.concurrency`). */
export function validateQueueDeclaration(name: unknown, input: unknown, where: string): ValidatedQueueDeclaration {
  const queue = checkName(name, where, 'a queue name');
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ValidationError(where, 'a queue declaration must be an object of limits');
  const { keys, ...rest } = input as { keys?: unknown };
  const limits = validateQueueLimits(rest, where);
  if (keys !== undefined && (typeof keys !== 'object' || keys === null || Array.isArray(keys))) {
    throw new ValidationError(`${where}.keys`, 'keys must be an object of limits by concurrency key');
  }
  return {
    name: queue,
    limits: {
      concurrency: limits.concurrency ?? null, keyConcurrency: limits.keyConcurrency ?? null,
      rateLimit: limits.rateLimit ?? null, keyRateLimit: limits.keyRateLimit ?? null,
    },
    keys: Object.entries((keys ?? {}) as Record<string, unknown>).map(([key, value]) => {
      const own = validateKeyLimits(value, `${where}.keys.${key}`);
      // As for the queue: what the declaration leaves out of a key is not limited.
      return { key: checkName(key, `${where}.keys`, 'a concurrency key'), limits: { concurrency: own.concurrency ?? null, rateLimit: own.rateLimit ?? null } };
    }),
  };
}
