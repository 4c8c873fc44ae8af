import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseOptions } from '../config/parse-options.js';
import { resolveSchema } from '../config/schema-name.js';
import { postgresUrlOption, transactionPoolingFrom } from '../config/database-url.js';
import { tracingFrom } from '../config/tracing.js';
import { validateQueueDeclaration, type QueueDeclaration, type ValidatedQueueDeclaration } from '../jobs/queue-limits.js';
import { validateSchedule, type ScheduleDefinition, type ValidatedSchedule } from '../jobs/schedule.js';
import type { AgentRegistry, Executor } from './types.js';

/** Options of a `Worker`; every field but `databaseUrl` has a default. */
export interface WorkerOptions {
  /** Default: `TAIAT_DATABASE_URL`, then `DATABASE_URL`. */
  databaseUrl?: string;
  /** The schema of the taiat instance (default: `TAIAT_SCHEMA`, then `public`). */
  schema?: string;
  /** Agents for `agent` jobs, by `payload.agent_name`. */
  agents?: AgentRegistry;
  /** Custom executors, tried in order before the built-in agent executor. */
  executors?: Executor[];
  /**
   * Schedules this worker declares (an agents module's `schedules` export): created or changed
   * when it starts, and removed once no live worker declares them (docs/schedules.md).
   */
  schedules?: Record<string, ScheduleDefinition>;
  /**
   * Queue limits this worker declares (an agents module's `queues` export), set when it starts:
   * what a declaration leaves out is not limited. Never removed by a worker (docs/flow-control.md).
   */
  queueLimits?: Record<string, QueueDeclaration>;
  /** Whether this worker runs due schedule ticks (default true; any number of workers may). */
  runSchedules?: boolean;
  /** Jobs run at once (default 4). */
  maxConcurrentJobs?: number;
  /**
   * Jobs claimed ahead of free slots and held (leased) in memory, so that a busy worker claims in
   * bigger batches (default 0: claim only for free slots). Raise it for many short jobs; a worker
   * that dies with jobs in its local queue loses an attempt on each (they recover as "worker
   * lost"), and jobs in one worker's queue wait even if another worker is idle.
   */
  localQueueSize?: number;
  /** Seconds between polls when no notification arrives (default 5). */
  pollInterval?: number;
  /** Queues to take jobs from (default `['default']`). */
  queues?: string[];
  /** Seconds a claim holds a job before another worker may take it back (default 30). */
  leaseSeconds?: number;
  /** Seconds between lease renewals and heartbeats (default leaseSeconds / 3). */
  heartbeatInterval?: number;
  /** Retry backoff: `base` seconds, doubling per retry up to `max`, ±`jitter` (default 1, 3600, 0.2). */
  retryBackoff?: { base?: number; max?: number; jitter?: number };
  /** Seconds running jobs may finish after `stop()` before they are aborted (default 30). */
  shutdownTimeout?: number;
  /**
   * Seconds `start()` keeps trying while the database cannot be reached (down, restarting), with
   * back-off, before it fails (default 180; 0: fail at once).
   */
  startupTimeout?: number;
  /** Hours between history prunes, 0 to disable (default 24). */
  pruneIntervalHours?: number;
  /** @deprecated Renamed `pruneIntervalHours`. */
  cleanupIntervalHours?: number;
  /** Finished jobs older than this many days are pruned from history (default 30). */
  historyRetentionDays?: number;
  /** Most outcomes written in one completion transaction (default 1000). */
  completionBatchSize?: number;
  /** A pino logger (default: silent). */
  logger?: Logger;
  /** Default: `host:pid:random`. */
  workerId?: string;
  /** Pool size (default maxConcurrentJobs / 4 + 4). */
  maxConnections?: number;
  /**
   * `databaseUrl` goes through a pooler in transaction mode (pgbouncer `pool_mode = transaction`,
   * the pooled endpoints of Neon or Supabase): no prepared statements, and no LISTEN on it
   * (default: `TAIAT_TRANSACTION_POOLING` is `1` or `true`). See docs/operations.md.
   */
  transactionPooling?: boolean;
  /**
   * A direct connection (not through the pooler) for LISTEN, so that new jobs and cancellations
   * wake the worker at once (default: `TAIAT_LISTEN_DATABASE_URL`). Without it, under
   * `transactionPooling`, the worker polls every `pollInterval` (and says so at start).
   */
  listenDatabaseUrl?: string;
  /**
   * Traces each attempt with OpenTelemetry (`@opentelemetry/api`, an optional peer dependency;
   * default: `TAIAT_TRACING` is `1` or `true`). Spans go to the application's tracer provider.
   * See docs/observability.md.
   */
  tracing?: boolean;
}

const positive = (name: string) => z.number({ error: `${name} must be a number` }).positive(`${name} must be positive`);

// Node's timers wait at most ~24.8 days (a longer wait fires at once): every duration has a maximum.
const pruneInterval = (name: string) =>
  z.number({ error: `${name} must be a number` }).min(0, `${name} must not be negative`).max(500, `${name} must be at most 500 (hours)`).optional();

const schema = z.strictObject({
  databaseUrl: z.string({ error: 'databaseUrl must be a string' }).optional(),
  schema: z.string({ error: 'schema must be a string' }).optional(),
  agents: z.record(z.string(), z.custom<AgentRegistry[string]>((f) => typeof f === 'function', 'each agent must be a function')).default({}),
  executors: z
    .array(
      z.custom<Executor>(
        (e) => typeof e === 'object' && e !== null && typeof (e as Executor).canExecute === 'function' && typeof (e as Executor).execute === 'function',
        'each executor needs canExecute(job) and execute(job, ctx) functions',
      ),
      { error: 'executors must be an array' },
    )
    .default([]),
  schedules: z.record(z.string(), z.unknown(), { error: 'schedules must be an object of schedules by id' }).default({}),
  queueLimits: z.record(z.string(), z.unknown(), { error: 'queueLimits must be an object of limits by queue name' }).default({}),
  runSchedules: z.boolean({ error: 'runSchedules must be a boolean' }).default(true),
  maxConcurrentJobs: z.number({ error: 'maxConcurrentJobs must be a number' }).int('maxConcurrentJobs must be an integer').min(1, 'maxConcurrentJobs must be at least 1').max(1000, 'maxConcurrentJobs must be at most 1000').default(4),
  localQueueSize: z.number({ error: 'localQueueSize must be a number' }).int('localQueueSize must be an integer').min(0, 'localQueueSize must not be negative').max(10_000, 'localQueueSize must be at most 10000').default(0),
  pollInterval: positive('pollInterval').max(3600, 'pollInterval must be at most 3600 (seconds)').default(5),
  queues: z.array(z.string().min(1, 'a queue name must not be empty'), { error: 'queues must be an array of names' }).min(1, 'queues must name at least one queue').default(['default']),
  leaseSeconds: positive('leaseSeconds').min(1, 'leaseSeconds must be at least 1').max(86_400, 'leaseSeconds must be at most 86400 (a day)').default(30),
  heartbeatInterval: positive('heartbeatInterval').max(86_400, 'heartbeatInterval must be at most 86400 (a day)').optional(),
  retryBackoff: z
    .strictObject({
      base: z.number().min(0, 'retryBackoff.base must not be negative').default(1),
      max: z.number().min(0, 'retryBackoff.max must not be negative').default(3600),
      jitter: z.number().min(0).max(1, 'retryBackoff.jitter must be between 0 and 1').default(0.2),
    })
    .default({ base: 1, max: 3600, jitter: 0.2 }),
  startupTimeout: z.number({ error: 'startupTimeout must be a number' }).min(0, 'startupTimeout must not be negative').max(86_400, 'startupTimeout must be at most 86400 (a day)').default(180),
  shutdownTimeout: z.number().min(0, 'shutdownTimeout must not be negative').max(86_400, 'shutdownTimeout must be at most 86400 (a day)').default(30),
  pruneIntervalHours: pruneInterval('pruneIntervalHours'),
  cleanupIntervalHours: pruneInterval('cleanupIntervalHours'),
  historyRetentionDays: z.number().min(0, 'historyRetentionDays must not be negative').default(30),
  completionBatchSize: z.number().int().min(1).max(10_000).default(1000),
  logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null && typeof (l as Logger).child === 'function', 'logger must be a pino logger').optional(),
  workerId: z.string().min(1).max(200).optional(),
  maxConnections: z.number().int().min(2, 'maxConnections must be at least 2').optional(),
  transactionPooling: z.boolean({ error: 'transactionPooling must be a boolean' }).optional(),
  listenDatabaseUrl: postgresUrlOption('listenDatabaseUrl').optional(),
  tracing: z.boolean({ error: 'tracing must be a boolean' }).optional(),
});

export type ResolvedWorkerOptions = Omit<z.output<typeof schema>, 'cleanupIntervalHours' | 'pruneIntervalHours' | 'schema' | 'schedules' | 'queueLimits'> & {
  schema: string;
  schedules: ValidatedSchedule[];
  queueLimits: ValidatedQueueDeclaration[];
  pruneIntervalHours: number;
  workerId: string;
  heartbeatInterval: number;
  maxConnections: number;
  transactionPooling: boolean;
  tracing: boolean;
};

/** Validates worker options once, at construction; errors name the option. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const { cleanupIntervalHours, ...parsed } = parseOptions(schema, options, '');
  return {
    ...parsed,
    pruneIntervalHours: parsed.pruneIntervalHours ?? cleanupIntervalHours ?? 24,
    schema: resolveSchema(parsed.schema),
    schedules: Object.entries(parsed.schedules).map(([id, definition]) => validateSchedule(id, definition, `schedules.${id}`)),
    queueLimits: Object.entries(parsed.queueLimits).map(([name, d]) => validateQueueDeclaration(name, d, `queueLimits.${name}`)),
    workerId: parsed.workerId ?? `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    heartbeatInterval: parsed.heartbeatInterval ?? parsed.leaseSeconds / 3,
    maxConnections: parsed.maxConnections ?? Math.ceil(parsed.maxConcurrentJobs / 4) + 4,
    transactionPooling: transactionPoolingFrom(parsed.transactionPooling),
    tracing: tracingFrom(parsed.tracing),
    listenDatabaseUrl: parsed.listenDatabaseUrl ?? (process.env.TAIAT_LISTEN_DATABASE_URL || undefined),
  };
}
