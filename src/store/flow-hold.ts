import type { Sql } from '../db/connection.js';
import type { RateLimit } from '../jobs/queue-limits.js';
import { readQueueSettings } from './queues.js';
import type { SchemaNames } from './schema-names.js';

/** What holds a ready job back, if flow control does: `explain` says it. */
export interface FlowHold {
  reason: 'paused' | 'queue-limit' | 'rate-limit' | 'key-limit';
  /** For people: which limit, with its numbers. */
  detail: string;
}

/** What of its queue's flow control holds back a ready job of `queue` (and `key`) now; null if nothing does. */
export async function flowHoldOf(sql: Sql, t: SchemaNames, queue: string, key: string | null): Promise<FlowHold | null> {
  const [q] = await readQueueSettings(sql, t, [queue]);
  if (!q) return null;
  if (q.paused) return { reason: 'paused', detail: `queue '${queue}' is paused${q.pausedAt ? ` (since ${q.pausedAt.toISOString()})` : ''}` };
  const own = key === null ? undefined : q.keys.find((k) => k.key === key);
  const keyConcurrency = key === null ? null : own?.concurrency ?? q.keyConcurrency;
  const keyRate = key === null ? null : own?.rateLimit ?? q.keyRateLimit;
  const [n] = await sql<{ running: number; key_running: number; recent: number; key_recent: number }[]>`
    SELECT (SELECT count(*) FROM ${sql(t.jobs)} WHERE status = 'running' AND queue = ${queue})::int AS running,
           (SELECT count(*) FROM ${sql(t.jobs)} WHERE status = 'running' AND queue = ${queue} AND concurrency_key = ${key})::int AS key_running,
           (SELECT count(*) FROM ${sql(t.rateClaims)} WHERE queue = ${queue}
               AND claimed_at > now() - make_interval(secs => ${q.rateLimit?.periodSeconds ?? null}::float8))::int AS recent,
           (SELECT count(*) FROM ${sql(t.rateClaims)} WHERE queue = ${queue} AND concurrency_key = ${key}
               AND claimed_at > now() - make_interval(secs => ${keyRate?.periodSeconds ?? null}::float8))::int AS key_recent`;
  const per = (r: RateLimit) => `${r.limit} per ${r.periodSeconds} s`;
  if (q.concurrency !== null && n!.running >= q.concurrency) {
    return { reason: 'queue-limit', detail: `queue '${queue}' is at its concurrency limit: ${n!.running} of ${q.concurrency} running` };
  }
  if (q.rateLimit !== null && n!.recent >= q.rateLimit.limit) {
    return { reason: 'rate-limit', detail: `queue '${queue}' is at its rate limit (${per(q.rateLimit)}): ${n!.recent} claims in the window` };
  }
  if (keyConcurrency !== null && n!.key_running >= keyConcurrency) {
    return { reason: 'key-limit', detail: `concurrency key '${key}' is at its limit: ${n!.key_running} of ${keyConcurrency} running` };
  }
  if (keyRate !== null && n!.key_recent >= keyRate.limit) {
    return { reason: 'key-limit', detail: `concurrency key '${key}' is at its rate limit (${per(keyRate)}): ${n!.key_recent} claims in the window` };
  }
  return null;
}
