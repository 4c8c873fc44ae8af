import type { Sql, Tx } from '../db/connection.js';
import {
  boundLiteral, ensurePartitionsIn, partitionNames, PERIOD_INTERVAL, periodComment, readHistoryPartitioning, type HistoryPartitionPeriod,
} from './history-partitions.js';
import type { SchemaNames } from './schema-names.js';

export interface PartitionedHistory {
  /** Whether this call converted a plain history (false: it was partitioned already). */
  converted: boolean;
  period: HistoryPartitionPeriod;
  /** Partitions created by this call. */
  created: string[];
}

const GRANTABLE = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN']);

/**
 * Partitions history by `completed_at`, one partition per `period`, without copying a row: the
 * table as it is becomes the partition of everything before a bound two periods ahead (named
 * `taiat_job_history_unpartitioned`), under a new partitioned `taiat_job_history` with the same
 * columns, constraints, indexes, grants and dependent views, a default partition, and the next
 * periods' partitions. Before the short swap, and without blocking inserts or reads: an index on
 * job_id that is not unique (a partitioned index cannot be unique without the partition key, and
 * the attach would build one under lock), and a validated CHECK of the bound (the attach would
 * scan every row under lock). Already partitioned: records the period (used for the partitions
 * created from then on) and creates any missing ones.
 */
export async function partitionHistory(sql: Sql, t: SchemaNames, period: HistoryPartitionPeriod): Promise<PartitionedHistory> {
  const state = await readHistoryPartitioning(sql, t);
  if (state) {
    if (state.period !== period) await sql`COMMENT ON TABLE ${sql(t.history)} IS ${sql.unsafe(`'${periodComment(period)}'`)}`;
    const created = await sql.begin((tx) => ensurePartitionsIn(tx, t));
    return { converted: false, period, created: created ?? [] };
  }
  const bound = await prepareBound(sql, t, period);
  const created = await sql.begin((tx) => swap(tx, t, period, bound));
  return { converted: created !== null, period, created: created ?? [] };
}

const jobIdIndex = (t: SchemaNames) => `${t.schema}.taiat_job_history_job_id_idx`;
const boundConstraint = 'taiat_job_history_unpartitioned_bound';

/** The slow, non-blocking part: the job_id index (built concurrently) and the validated bound. Returns the bound. */
async function prepareBound(sql: Sql, t: SchemaNames, period: HistoryPartitionPeriod): Promise<Date> {
  // An index a failed concurrent build left invalid is built again.
  const [idx] = await sql<{ valid: boolean }[]>`
    SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass(${jobIdIndex(t)})`;
  if (idx && !idx.valid) await sql`DROP INDEX CONCURRENTLY ${sql(jobIdIndex(t))}`;
  await sql`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${sql(jobIdIndex(t).split('.')[1]!)} ON ${sql(t.history)} (job_id)`;
  const [row] = await sql<{ bound: Date }[]>`
    SELECT date_trunc(${period}, now(), 'UTC') + 2 * ${PERIOD_INTERVAL[period]}::interval AS bound`;
  const bound = row!.bound;
  await sql.begin(async (tx) => {
    await tx`SELECT set_config('lock_timeout', '5s', true)`;
    await tx`ALTER TABLE ${tx(t.history)} DROP CONSTRAINT IF EXISTS ${tx(boundConstraint)}`;
    // NOT VALID: a moment's lock; rows inserted from now on are checked.
    await tx`ALTER TABLE ${tx(t.history)} ADD CONSTRAINT ${tx(boundConstraint)}
             CHECK (completed_at < ${tx.unsafe(boundLiteral(bound))}::timestamptz) NOT VALID`;
  });
  // A scan under SHARE UPDATE EXCLUSIVE: inserts, updates, deletes and reads go on.
  await sql`ALTER TABLE ${sql(t.history)} VALIDATE CONSTRAINT ${sql(boundConstraint)}`;
  return bound;
}

/**
 * The swap, in one transaction under ACCESS EXCLUSIVE on history (catalog changes only: tens of
 * milliseconds whatever the table's size). Null when another process converted it meanwhile.
 */
async function swap(tx: Tx, t: SchemaNames, period: HistoryPartitionPeriod, bound: Date): Promise<string[] | null> {
  // An empty search_path makes every name Postgres prints below schema-qualified.
  await tx`SELECT set_config('lock_timeout', '5s', true), set_config('search_path', '', true)`;
  await tx`LOCK TABLE ${tx(t.history)} IN ACCESS EXCLUSIVE MODE`;
  if (await readHistoryPartitioning(tx, t)) return null;
  const { unpartitioned, default: def } = partitionNames(t);
  const old = unpartitioned.split('.')[1]!;
  // Views bind to the table, not its name (the audit view, and any of the application's).
  const views = await tx<{ name: string; def: string }[]>`
    SELECT DISTINCT n.nspname || '.' || v.relname AS name, pg_get_viewdef(v.oid) AS def
      FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
      JOIN pg_namespace n ON n.oid = v.relnamespace
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass(${t.history}) AND v.relkind = 'v'`;
  const indexes = await tx<{ name: string; def: string; unique: boolean }[]>`
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisunique AS unique
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(${t.history})`;
  const grants = await tx<{ grantee: string | null; privilege: string; grantable: boolean }[]>`
    SELECT r.rolname AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
      FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
     WHERE c.oid = to_regclass(${t.history})`;
  await tx`ALTER TABLE ${tx(t.history)} RENAME TO ${tx(old)}`;
  for (const i of indexes) {
    await tx`ALTER INDEX ${tx(`${t.schema}.${i.name}`)} RENAME TO ${tx(`${old}_${i.name.replace(/^taiat_job_history_/, '')}`)}`;
  }
  await tx`CREATE TABLE ${tx(t.history)} (LIKE ${tx(unpartitioned)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)
           PARTITION BY RANGE (completed_at)`;
  await tx`ALTER TABLE ${tx(t.history)} DROP CONSTRAINT ${tx(boundConstraint)}`;
  // The definitions Postgres printed name the table `schema.taiat_job_history`: the new one now.
  // An index that is unique (the primary key on job_id) stays on the old table only.
  for (const i of indexes.filter((i) => !i.unique)) await tx.unsafe(i.def);
  // Attaching finds each index already built and the bound already proven by the CHECK.
  await tx`ALTER TABLE ${tx(t.history)} ATTACH PARTITION ${tx(unpartitioned)}
           FOR VALUES FROM (MINVALUE) TO (${tx.unsafe(boundLiteral(bound))})`;
  await tx`CREATE TABLE ${tx(def)} PARTITION OF ${tx(t.history)} DEFAULT`;
  for (const v of views) await tx`CREATE OR REPLACE VIEW ${tx(v.name)} AS ${tx.unsafe(v.def.replace(/;\s*$/, ''))}`;
  for (const g of grants.filter((g) => GRANTABLE.has(g.privilege))) {
    await tx`GRANT ${tx.unsafe(g.privilege)} ON ${tx(t.history)} TO ${g.grantee === null ? tx.unsafe('PUBLIC') : tx(g.grantee)}
             ${tx.unsafe(g.grantable ? 'WITH GRANT OPTION' : '')}`;
  }
  await tx`COMMENT ON TABLE ${tx(t.history)} IS ${tx.unsafe(`'${periodComment(period)}'`)}`;
  return (await ensurePartitionsIn(tx, t)) ?? [];
}
