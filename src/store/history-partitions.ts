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

/** A range of `completed_at`, [from, to). */
export interface HistoryRange {
  from: Date;
  to: Date;
}

/**
 * The parts of [from, to) no partition covers: all of it, nothing, or (after the period changed,
 * e.g. day to month) what the old period's partitions leave of the new one.
 */
export function uncoveredRanges(from: Date, to: Date, partitions: HistoryPartition[]): HistoryRange[] {
  const out: HistoryRange[] = [];
  let cursor = from;
  // Partitions do not overlap: ordered by their end, they are ordered by their start too.
  const ranged = partitions.filter((p) => !p.isDefault && p.to !== null).sort((a, b) => a.to!.getTime() - b.to!.getTime());
  for (const p of ranged) {
    if (p.to! <= cursor) continue;
    if (p.from !== null && p.from >= to) break;
    if (p.from !== null && p.from > cursor) out.push({ from: cursor, to: p.from });
    cursor = p.to!;
    if (cursor >= to) break;
  }
  if (cursor < to) out.push({ from: cursor, to });
  return out;
}

/**
 * In a transaction: periods are cut in UTC (a day is 24 hours, whatever the session's time zone);
 * a lock that is not granted soon gives up rather than queue the fleet's statements behind it.
 * Returns whether this transaction holds the partitions lock (tried, not waited for).
 */
async function lockPartitions(tx: Tx, t: SchemaNames): Promise<boolean> {
  await tx`SELECT set_config('TimeZone', 'UTC', true), set_config('lock_timeout', '2s', true)`;
  const [lock] = await tx<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(${t.lockKey('partitions')}::bigint) AS ok`;
  return lock!.ok;
}

/**
 * Creates the partition [from, to) as a table of its own, moves into it the rows of the default
 * partition it covers, and attaches it: attaching takes SHARE UPDATE EXCLUSIVE on history (inserts
 * go on), where CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE. It takes ACCESS
 * EXCLUSIVE on the default partition while it checks it (it was just emptied of the range).
 */
async function createPartition(tx: Tx, t: SchemaNames, r: HistoryRange): Promise<string> {
  const name = `${t.schema}.taiat_job_history_p${r.from.toISOString().slice(0, 10).replaceAll('-', '')}`;
  const { default: def } = partitionNames(t);
  await tx`CREATE TABLE ${tx(name)} (LIKE ${tx(t.history)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)`;
  // Reads of the default go on; a job finishing into it waits: one of the range arriving between
  // the move and the attach would make the attach's check of the default fail.
  await tx`LOCK TABLE ${tx(def)} IN EXCLUSIVE MODE`;
  await tx`
    WITH moved AS (DELETE FROM ${tx(def)} WHERE completed_at >= ${r.from} AND completed_at < ${r.to} RETURNING *)
    INSERT INTO ${tx(name)} SELECT * FROM moved`;
  await tx`ALTER TABLE ${tx(t.history)} ATTACH PARTITION ${tx(name)}
           FOR VALUES FROM (${tx.unsafe(boundLiteral(r.from))}) TO (${tx.unsafe(boundLiteral(r.to))})`;
  return name;
}

/**
 * The ranges to create: of the current period and the `ahead` next ones, and of every period the
 * default partition holds rows of, less what partitions cover already; the current and next
 * periods first. Creates the default partition if it is missing. Null: not partitioned, or locked.
 */
async function plannedRanges(tx: Tx, t: SchemaNames, ahead: number): Promise<HistoryRange[] | null> {
  if (!(await lockPartitions(tx, t))) return null;
  const state = await readHistoryPartitioning(tx, t);
  if (!state) return null;
  const { default: def } = partitionNames(t);
  if (!state.partitions.some((p) => p.isDefault)) await tx`CREATE TABLE ${tx(def)} PARTITION OF ${tx(t.history)} DEFAULT`;
  const interval = PERIOD_INTERVAL[state.period];
  const wanted = await tx<HistoryRange[]>`
    SELECT lo AS "from", lo + ${interval}::interval AS "to" FROM generate_series(
      date_trunc(${state.period}, least(now(), (SELECT min(completed_at) FROM ${tx(def)}))),
      date_trunc(${state.period}, now()) + ${ahead} * ${interval}::interval, ${interval}::interval) AS lo
     ORDER BY lo < date_trunc(${state.period}, now()), lo`;
  return wanted.flatMap((w) => uncoveredRanges(w.from, w.to, state.partitions));
}

/**
 * Creates the partitions `plannedRanges` finds missing, each in a transaction of its own under
 * the partitions lock (tried): a create that fails (the default partition busy past the lock
 * timeout) leaves those already made, the current and next periods' first. Skipped (null) when
 * another process holds the lock or history is not partitioned. Returns the names created.
 */
export async function ensureHistoryPartitions(sql: Sql, t: SchemaNames, ahead = PARTITIONS_AHEAD): Promise<string[] | null> {
  const ranges = await sql.begin((tx) => plannedRanges(tx, t, ahead));
  if (ranges === null) return null;
  const created: string[] = [];
  for (const r of ranges) {
    const name = await sql.begin(async (tx) => {
      if (!(await lockPartitions(tx, t))) return null;
      const state = await readHistoryPartitioning(tx, t);
      // Another process created it (or changed the period) meanwhile: its run goes on from there.
      if (!state || state.partitions.some((p) => !p.isDefault && (p.from === null || p.from < r.to) && p.to! > r.from)) return null;
      return createPartition(tx, t, r);
    });
    if (name === null) break;
    created.push(name);
  }
  return created;
}

/**
 * Drops one partition whose rows all finished before the cutoff. First, in a statement of its own
 * (under the prune lock when `locked`; null when another process holds it): the unique keys its
 * jobs held, and its rows counted. Then a transaction that holds nothing else when it asks for
 * ACCESS EXCLUSIVE on history: DROP TABLE, for the catalog change (milliseconds), waited for at
 * most `lock_timeout`, so a long audit query makes this prune give up (`55P03`) rather than hold
 * every claim and insert behind it; a role that is not the owner cannot (`42501`). A partition
 * another prune dropped meanwhile counts as dropped (0 rows). Returns the rows dropped.
 */
export async function dropPartition(sql: Sql, t: SchemaNames, name: string, locked: boolean): Promise<number | null | '55P03' | '42501'> {
  try {
    const [row] = await sql<{ ran: boolean; n: number }[]>`
      WITH lock AS (
        SELECT CASE WHEN ${locked}::boolean THEN pg_try_advisory_xact_lock(${t.lockKey('prune')}::bigint) ELSE true END AS ran
      ), keys AS (
        DELETE FROM ${sql(t.uniqueKeys)} WHERE (SELECT ran FROM lock) AND job_id IN (SELECT job_id FROM ${sql(name)})
      )
      SELECT (SELECT ran FROM lock) AS ran, (SELECT count(*)::int FROM ${sql(name)}) AS n`;
    if (!row!.ran) return null;
    await sql.begin(async (tx) => {
      await tx`SELECT set_config('lock_timeout', '2s', true)`;
      await tx`DROP TABLE ${tx(name)}`;
    });
    return row!.n;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42P01') return 0;
    // Not granted in time, or a role that does not own the table (it cannot drop it).
    if (code === '55P03' || code === '42501') return code;
    throw error;
  }
}
