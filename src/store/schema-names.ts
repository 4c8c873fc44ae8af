import { createHash } from 'node:crypto';
import { DEFAULT_SCHEMA } from '../config/schema-name.js';

/**
 * The names of one taiat instance, all derived from its schema: two instances in two schemas of
 * one database share no table, notification channel or advisory lock. Table names are
 * `schema.table`, for postgres.js's `sql(name)` (which quotes each part) and Kysely's
 * `withSchema`; every statement names its schema, so none depends on the session's search_path
 * (an application's transaction, a pooler).
 */
export interface SchemaNames {
  readonly schema: string;
  readonly jobs: string;
  readonly history: string;
  readonly workers: string;
  readonly allJobs: string;
  readonly migrations: string;
  readonly uniqueKeys: string;
  readonly schedules: string;
  readonly scheduleTicks: string;
  readonly queues: string;
  readonly queueKeys: string;
  readonly rateClaims: string;
  /** The dashboard's record of actions taken through it. */
  readonly actions: string;
  /** Finished jobs per minute and status, rolled up from history for the dashboard's charts. */
  readonly finishedMinutes: string;
  /** The function claiming jobs of queues with flow control. */
  readonly claimLimited: string;
  /** NOTIFY channel: jobs became ready (payload: the queue). */
  readonly readyChannel: string;
  /** NOTIFY channel: a running job's cancellation was requested (payload: the job id). */
  readonly cancelChannel: string;
  /** The key of an advisory lock of this instance, a bigint as text. */
  lockKey(purpose: LockPurpose): string;
}

export type LockPurpose = 'prune' | 'migrate' | 'rollup' | 'partitions';

// The default schema keeps the keys taiat always used, so that workers of two versions still take
// turns during a rolling upgrade; other schemas key on a hash of their name.
const LEGACY_LOCK_KEYS: Record<LockPurpose, string> = { prune: '7211390', migrate: '8002161', rollup: '7211391', partitions: '7211392' };

function hashedLockKey(schema: string, purpose: LockPurpose): string {
  return createHash('sha256').update(`taiat:${schema}:${purpose}`).digest().readBigInt64BE(0).toString();
}

const cache = new Map<string, SchemaNames>();

/** The names of the instance in `schema` (validated by `resolveSchema`). */
export function schemaNames(schema: string = DEFAULT_SCHEMA): SchemaNames {
  let names = cache.get(schema);
  if (!names) {
    // The default schema keeps the channel names taiat always used (rolling upgrades, listeners in
    // other languages); others get their own.
    const channel = (base: string) => (schema === DEFAULT_SCHEMA ? base : `${base}:${schema}`);
    names = {
      schema,
      jobs: `${schema}.taiat_jobs`,
      history: `${schema}.taiat_job_history`,
      workers: `${schema}.taiat_workers`,
      allJobs: `${schema}.taiat_all_jobs`,
      migrations: `${schema}.taiat_migrations`,
      uniqueKeys: `${schema}.taiat_unique_keys`,
      schedules: `${schema}.taiat_schedules`,
      scheduleTicks: `${schema}.taiat_schedule_ticks`,
      queues: `${schema}.taiat_queues`,
      queueKeys: `${schema}.taiat_queue_keys`,
      rateClaims: `${schema}.taiat_rate_claims`,
      actions: `${schema}.taiat_dashboard_actions`,
      finishedMinutes: `${schema}.taiat_finished_minutes`,
      claimLimited: `${schema}.taiat_claim_limited`,
      readyChannel: channel('taiat_jobs_ready'),
      cancelChannel: channel('taiat_jobs_cancel'),
      lockKey: (purpose) => (schema === DEFAULT_SCHEMA ? LEGACY_LOCK_KEYS[purpose] : hashedLockKey(schema, purpose)),
    };
    cache.set(schema, names);
  }
  return names;
}
