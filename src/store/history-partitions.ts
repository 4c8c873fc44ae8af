import type { Sql, Tx } from '../db/connection.js';
import type { SchemaNames } from './schema-names.js';

/** The periods a partitioned history may be cut by: one partition per period of `completed_at`. */
export const HISTORY_PARTITION_PERIODS = ['day', 'week', 'month'] as const;
export type HistoryPartitionPeriod = (typeof HISTORY_PARTITION_PERIODS)[number];

/** How many periods past the current one the workers' maintenance keeps created. */
export const PARTITIONS_AHEAD = 3;

/** One partition of history: `from` null for the former unpartitioned table (MINVALUE), both null for the default. */
export interface HistoryPartition {
  /** Qualified name, `schema.table`. */
  name: string;
  from: Date | null;
  to: Date | null;
  isDefault: boolean;
}

export interface HistoryPartitioning {
  period: HistoryPartitionPeriod;
  /** Oldest first, the default partition last. */
  partitions: HistoryPartition[];
}

/** The names of the partitions that are not one period long. */
export const partitionNames = (t: SchemaNames) => ({
  /** The history table as it was before the conversion, now the partition of everything before its bound. */
  unpartitioned: `${t.schema}.taiat_job_history_unpartitioned`,
  /** Rows no period partition takes yet (a worker whose maintenance has not run); maintenance moves them out. */
  default: `${t.schema}.taiat_job_history_default`,
});

/** The comment on the partitioned table that records the period (no settings table, no migration). */
export const periodComment = (period: HistoryPartitionPeriod) => `taiat: history partitioned by completed_at; period=${period}`;
const PERIOD_IN_COMMENT = /period=(day|week|month)\b/;

/** Each period as an interval. */
export const PERIOD_INTERVAL: Record<HistoryPartitionPeriod, string> = { day: '1 day', week: '1 week', month: '1 month' };

/** A timestamp as a literal for a partition bound (DDL takes no parameters); an ISO string holds no quote. */
export const boundLiteral = (d: Date) => `'${d.toISOString()}'`;

/** Whether history is partitioned, by which period, and its partitions; null when it is one plain table. */
export async function readHistoryPartitioning(sql: Sql | Tx, t: SchemaNames): Promise<HistoryPartitioning | null> {
  const [table] = await sql<{ partitioned: boolean; comment: string | null }[]>`
    SELECT c.relkind = 'p' AS partitioned, obj_description(c.oid, 'pg_class') AS comment
      FROM pg_class c WHERE c.oid = to_regclass(${t.history})`;
  if (!table?.partitioned) return null;
  // A range bound reads FOR VALUES FROM ('a') TO ('b'), or FROM (MINVALUE) TO ('b'); the text is
  // in this session's time zone, and so is the cast back.
  const rows = await sql<{ name: string; from: Date | null; to: Date | null; is_default: boolean }[]>`
    WITH p AS (
      SELECT n.nspname || '.' || c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS b
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE i.inhparent = to_regclass(${t.history}))
    SELECT name, b = 'DEFAULT' AS is_default,
           CASE WHEN b = 'DEFAULT' OR b LIKE '%FROM (MINVALUE)%' THEN NULL ELSE split_part(b, '''', 2)::timestamptz END AS "from",
           CASE WHEN b = 'DEFAULT' THEN NULL
                WHEN b LIKE '%FROM (MINVALUE)%' THEN split_part(b, '''', 2)::timestamptz
                ELSE split_part(b, '''', 4)::timestamptz END AS "to"
      FROM p ORDER BY b = 'DEFAULT', "to"`;
  const period = (PERIOD_IN_COMMENT.exec(table.comment ?? '')?.[1] ?? 'day') as HistoryPartitionPeriod;
  return { period, partitions: rows.map((r) => ({ name: r.name, from: r.from, to: r.to, isDefault: r.is_default })) };
}

/**
 * Creates the partition [from, to) as a table of its own, moves into it the rows of the default
 * partition it covers, and attaches it: attaching takes SHARE UPDATE EXCLUSIVE on history (inserts
 * and reads go on), where CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE. The default
 * partition is locked while it is checked for rows of the range (it was just emptied of them).
 */
async function createPartition(tx: Tx, t: SchemaNames, from: Date, to: Date): Promise<string> {
  const name = `${t.schema}.taiat_job_history_p${from.toISOString().slice(0, 10).replaceAll('-', '')}`;
  const { default: def } = partitionNames(t);
  await tx`CREATE TABLE ${tx(name)} (LIKE ${tx(t.history)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)`;
  await tx`
    WITH moved AS (DELETE FROM ${tx(def)} WHERE completed_at >= ${from} AND completed_at < ${to} RETURNING *)
    INSERT INTO ${tx(name)} SELECT * FROM moved`;
  await tx`ALTER TABLE ${tx(t.history)} ATTACH PARTITION ${tx(name)}
           FOR VALUES FROM (${tx.unsafe(boundLiteral(from))}) TO (${tx.unsafe(boundLiteral(to))})`;
  return name;
}

/**
 * Inside a transaction: creates the partitions of the current period and the `ahead` next ones,
 * and of every period the default partition holds rows of, that no partition covers yet. Skipped
 * (null) when another process holds the lock or history is not partitioned. Returns the names created.
 */
export async function ensurePartitionsIn(tx: Tx, t: SchemaNames, ahead = PARTITIONS_AHEAD): Promise<string[] | null> {
  // Periods are cut in UTC (a day is 24 hours, whatever the session's time zone); a lock that is
  // not granted soon gives up rather than queue the fleet's statements behind it.
  await tx`SELECT set_config('TimeZone', 'UTC', true), set_config('lock_timeout', '2s', true)`;
  const [lock] = await tx<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(${t.lockKey('partitions')}::bigint) AS ok`;
  if (!lock!.ok) return null;
  const state = await readHistoryPartitioning(tx, t);
  if (!state) return null;
  const { default: def } = partitionNames(t);
  if (!state.partitions.some((p) => p.isDefault)) await tx`CREATE TABLE ${tx(def)} PARTITION OF ${tx(t.history)} DEFAULT`;
  const interval = PERIOD_INTERVAL[state.period];
  const wanted = await tx<{ from: Date; to: Date }[]>`
    SELECT lo AS "from", lo + ${interval}::interval AS "to" FROM generate_series(
      date_trunc(${state.period}, least(now(), (SELECT min(completed_at) FROM ${tx(def)}))),
      date_trunc(${state.period}, now()) + ${ahead} * ${interval}::interval, ${interval}::interval) AS lo`;
  const created: string[] = [];
  for (const w of wanted) {
    const overlaps = state.partitions.some((p) => !p.isDefault && (p.from === null || p.from < w.to) && p.to! > w.from);
    if (!overlaps) created.push(await createPartition(tx, t, w.from, w.to));
  }
  return created;
}

/** `ensurePartitionsIn`, in a transaction of its own. */
export async function ensureHistoryPartitions(sql: Sql, t: SchemaNames, ahead = PARTITIONS_AHEAD): Promise<string[] | null> {
  return sql.begin((tx) => ensurePartitionsIn(tx, t, ahead));
}

/**
 * Drops one partition whose rows all finished before the cutoff, with the unique keys its jobs
 * held, in one transaction: DROP TABLE takes ACCESS EXCLUSIVE on history for the catalog change
 * (milliseconds), but waits for it at most `lock_timeout`, so a long audit query makes this prune
 * give up (false) rather than hold every claim and insert behind it; so does a role that is not
 * the owner (false). Under the prune lock when
 * `locked` (null when another process holds it). Returns the rows dropped.
 */
export async function dropPartition(sql: Sql, t: SchemaNames, name: string, locked: boolean): Promise<number | null | false> {
  try {
    return await sql.begin(async (tx) => {
      await tx`SELECT set_config('lock_timeout', '2s', true)`;
      if (locked) {
        const [lock] = await tx<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(${t.lockKey('prune')}::bigint) AS ok`;
        if (!lock!.ok) return null;
      }
      const [count] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM ${tx(name)}`;
      await tx`DELETE FROM ${tx(t.uniqueKeys)} WHERE job_id IN (SELECT job_id FROM ${tx(name)})`;
      await tx`DROP TABLE ${tx(name)}`;
      return count!.n;
    });
  } catch (error) {
    // Not granted in time, or a role that does not own the table (it cannot drop it).
    const code = (error as { code?: string }).code;
    if (code === '55P03' || code === '42501') return false;
    throw error;
  }
}
