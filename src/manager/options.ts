import { z } from 'zod';
import { postgresUrlOption } from '../config/database-url.js';
import { JOB_STATUSES, FINISHED_STATUSES } from '../jobs/model.js';
import { HISTORY_PARTITION_PERIODS } from '../store/index.js';

const limit = (max: number, dflt: number) =>
  z.number({ error: 'limit must be a number' }).int('limit must be an integer').min(1, 'limit must be at least 1').max(max, `limit must be at most ${max}`).default(dflt);
const queue = z.string({ error: 'queue must be a string' }).min(1, 'queue must not be empty').optional();
const jobId = z.string({ error: 'id must be a string' }).min(1, 'id must not be empty').max(200, 'id must be at most 200 characters');

export const jobIdSchema = jobId;

export const readyJobsSchema = z.strictObject({ limit: limit(10_000, 100), queue });

export const listJobsSchema = z.strictObject({
  status: z.enum(JOB_STATUSES, { error: `status must be one of ${JOB_STATUSES.join(', ')}` }).optional(),
  readyOnly: z.boolean({ error: 'readyOnly must be a boolean' }).default(false),
  queue,
  limit: limit(10_000, 100),
});

export const historySchema = z.strictObject({
  status: z.enum(FINISHED_STATUSES, { error: `status must be one of ${FINISHED_STATUSES.join(', ')}` }).optional(),
  limit: limit(10_000, 100),
  since: z
    .union([z.date(), z.string()], { error: 'since must be a Date or an ISO 8601 string' })
    .optional()
    .refine((d) => d === undefined || !Number.isNaN(new Date(d).getTime()), 'since is not a valid date')
    .transform((d) => (d === undefined ? undefined : new Date(d))),
});

export const createOptionsSchema = z.strictObject({
  tx: z.custom<object>((t) => typeof t === 'object' || typeof t === 'function', 'tx must be a transaction').optional(),
});

export const retrySchema = z.strictObject({
  dependents: z.boolean({ error: 'dependents must be a boolean' }).default(false),
});

export const pruneHistorySchema = z.strictObject({
  days: z.number({ error: 'days must be a number' }).min(0, 'days must not be negative').max(36500, 'days must be at most 36500'),
  batchSize: z.number().int().min(1).max(100_000).default(5_000),
  onProgress: z.custom<(deleted: number) => void>((f) => typeof f === 'function', 'onProgress must be a function').optional(),
});

export const partitionHistorySchema = z.strictObject({
  period: z.enum(HISTORY_PARTITION_PERIODS, { error: `period must be one of ${HISTORY_PARTITION_PERIODS.join(', ')}` }),
});

export const managerOptionsSchema = z.strictObject({
  databaseUrl: z.string({ error: 'databaseUrl must be a string' }).optional(),
  schema: z.string({ error: 'schema must be a string' }).optional(),
  maxConnections: z.number().int().min(1, 'maxConnections must be at least 1').max(1000).default(10),
  transactionPooling: z.boolean({ error: 'transactionPooling must be a boolean' }).optional(),
  readDatabaseUrl: postgresUrlOption('readDatabaseUrl').optional(),
  tracing: z.boolean({ error: 'tracing must be a boolean' }).optional(),
  maxPayloadBytes: z.number().int().min(1).default(1024 * 1024),
  maxDependencies: z.number().int().min(1).default(10_000),
  maxJobsPerCall: z.number().int().min(1).default(100_000),
});
