import type { Sql, Tx } from '../db/connection.js';
import { HistoryPartitionError } from '../errors.js';
import {
  boundLiteral, ensureHistoryPartitions, partitionNames, PERIOD_INTERVAL, periodComment, readHistoryPartitioning, type HistoryPartitionPeriod,
} from './history-partitions.js';
import type { SchemaNames } from './schema-names.js';

export interface PartitionedHistory {
  /** Whether this call converted a plain history (false: it was partitioned already). */
  converted: boolean;
  period: HistoryPartitionPeriod;
  /** Partitions created by this call. */
  created: string[];
}

/** @internal The conversion's collaborators: tests shorten the lock timeout and act just before the swap. */
export interface ConversionSteps {
  /** How long each lock is waited for (a Postgres interval; default 5 s). */
  lockTimeout?: string;
  beforeSwap?: () => Promise<void>;
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
 * scan every row under lock). The CHECK is dropped again if the swap fails: left on the plain
 * table, it would refuse every move into history once now() passes the bound. Refused when
 * objects other than plain views depend on history (they would stay bound to the old table).
 * Already partitioned: records the period (used for the partitions created from then on) and
 * creates any missing ones.
 */
export async function partitionHistory(sql: Sql, t: SchemaNames, period: HistoryPartitionPeriod, steps: ConversionSteps = {}): Promise<PartitionedHistory> {
  const lockTimeout = steps.lockTimeout ?? '5s';
  const state = await readHistoryPartitioning(sql, t);
  if (state) {
    if (state.period !== period) await recordPeriod(sql, t, period, lockTimeout);
    return { converted: false, period, created: (await ensureHistoryPartitions(sql, t)) ?? [] };
  }
  await refuseOtherDependents(sql, t);
  await buildJobIdIndex(sql, t);
  let converted: boolean;
  try {
    const bound = await addBound(sql, t, period, lockTimeout);
    await steps.beforeSwap?.();
    converted = await sql.begin((tx) => swap(tx, t, period, bound, lockTimeout));
  } catch (error) {
    await dropBound(sql, t, lockTimeout).catch((dropError: unknown) => {
      throw new HistoryPartitionError(
        `partitioning history failed (${(error as Error).message}), and its CHECK ${boundConstraint} could not be dropped from ` +
        `${t.history} (${(dropError as Error).message}): drop it (ALTER TABLE ${t.history} DROP CONSTRAINT ${boundConstraint}) ` +
        'or run the command again; workers drop it half a day before its bound', [], { cause: error });
    });
    throw error;
  }
  return { converted, period, created: converted ? (await ensureHistoryPartitions(sql, t)) ?? [] : [] };
}

const jobIdIndex = (t: SchemaNames) => `${t.schema}.taiat_job_history_job_id_idx`;
const boundConstraint = 'taiat_job_history_unpartitioned_bound';
const code = (error: unknown) => (error as { code?: string }).code;

/** The period in the partitioned table's comment, under the partitions lock (no worker is creating partitions by the old one meanwhile). */
async function recordPeriod(sql: Sql, t: SchemaNames, period: HistoryPartitionPeriod, lockTimeout: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT set_config('lock_timeout', ${lockTimeout}, true)`;
    await tx`SELECT pg_advisory_xact_lock(${t.lockKey('partitions')}::bigint)`;
    await comment(tx, t, period);
  });
}

/** COMMENT takes no parameter: the statement is built by the server, which quotes the text (%L). */
async function comment(tx: Tx, t: SchemaNames, period: HistoryPartitionPeriod): Promise<void> {
  const [row] = await tx<{ stmt: string }[]>`
    SELECT format('COMMENT ON TABLE %s IS %L', to_regclass(${t.history}), ${periodComment(period)}::text) AS stmt`;
  await tx.unsafe(row!.stmt);
}

/**
 * Views are recreated on the new table; anything else that depends on history (a materialized
 * view, a function with a SQL-standard body, a trigger, a policy, a foreign key, a publication)
 * would stay bound to the old one, and prunes could never drop it: refused, naming them.
 */
async function refuseOtherDependents(sql: Sql, t: SchemaNames): Promise<void> {
  const others = await sql<{ what: string }[]>`
    SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
      FROM pg_depend d
      LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
      LEFT JOIN pg_class v ON v.oid = r.ev_class
      LEFT JOIN pg_constraint c ON d.classid = 'pg_constraint'::regclass AND c.oid = d.objid
      LEFT JOIN pg_class k ON d.classid = 'pg_class'::regclass AND k.oid = d.objid
     WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass(${t.history}) AND d.deptype <> 'i'
       AND NOT (r.oid IS NOT NULL AND v.relkind = 'v' AND v.oid <> d.refobjid)
       AND NOT (c.oid IS NOT NULL AND c.conrelid = d.refobjid AND c.contype IN ('c', 'p', 'u'))
       AND NOT (k.oid IS NOT NULL AND k.relkind IN ('i', 'S'))
       AND d.classid NOT IN ('pg_attrdef'::regclass, 'pg_type'::regclass)
     ORDER BY 1`;
  if (others.length === 0) return;
  const names = others.map((o) => o.what);
  throw new HistoryPartitionError(
    `history cannot be partitioned: ${names.join(', ')} depend(s) on ${t.history} and would stay bound to the old table ` +
    '(only plain views are recreated); drop them, partition, and create them again', names);
}

/** The job_id index, built concurrently (one a failed build left invalid is built again). */
async function buildJobIdIndex(sql: Sql, t: SchemaNames): Promise<void> {
  const [idx] = await sql<{ valid: boolean }[]>`
    SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass(${jobIdIndex(t)})`;
  if (idx && !idx.valid) await sql`DROP INDEX CONCURRENTLY ${sql(jobIdIndex(t))}`;
  await sql`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${sql(jobIdIndex(t).split('.')[1]!)} ON ${sql(t.history)} (job_id)`;
}

/** The validated bound, without blocking inserts or reads for longer than a moment. Returns the bound. */
async function addBound(sql: Sql, t: SchemaNames, period: HistoryPartitionPeriod, lockTimeout: string): Promise<Date> {
  const [row] = await sql<{ bound: Date }[]>`
    SELECT date_trunc(${period}, now(), 'UTC') + 2 * ${PERIOD_INTERVAL[period]}::interval AS bound`;
  const bound = row!.bound;
  await sql.begin(async (tx) => {
    await tx`SELECT set_config('lock_timeout', ${lockTimeout}, true)`;
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
 * Drops the bound's CHECK from a history that is still one plain table (partitioned, it is the
 * former table's partition bound, and harmless). A lock timeout is tried again, 5 times at most:
 * what made the swap fail (a long query) often still holds history.
 */
async function dropBound(sql: Sql, t: SchemaNames, lockTimeout: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT set_config('lock_timeout', ${lockTimeout}, true)`;
        const [row] = await tx<{ plain: boolean }[]>`SELECT relkind = 'r' AS plain FROM pg_class WHERE oid = to_regclass(${t.history})`;
        if (row?.plain) await tx`ALTER TABLE ${tx(t.history)} DROP CONSTRAINT IF EXISTS ${tx(boundConstraint)}`;
      });
      return;
    } catch (error) {
      if (code(error) !== '55P03' || attempt === 5) throw error;
    }
  }
}

/**
 * A bound CHECK that a failed conversion left on the plain history (its process died before it
 * could drop it), when the bound is less than 12 hours away: a conversion in progress added its
 * own at least a day ahead. Dropped (workers' maintenance calls this); returns whether one was.
 */
export async function dropExpiringBound(sql: Sql, t: SchemaNames): Promise<boolean> {
  const [left] = await sql<{ expiring: boolean }[]>`
    SELECT split_part(pg_get_constraintdef(c.oid), '''', 2)::timestamptz < now() + interval '12 hours' AS expiring
      FROM pg_constraint c JOIN pg_class k ON k.oid = c.conrelid
     WHERE c.conrelid = to_regclass(${t.history}) AND c.conname = ${boundConstraint} AND k.relkind = 'r'`;
  if (!left?.expiring) return false;
  await dropBound(sql, t, '2s');
  return true;
}

/**
 * The swap, in one transaction under ACCESS EXCLUSIVE on history (catalog changes only: tens of
 * milliseconds whatever the table's size). False when another process converted it meanwhile.
 */
async function swap(tx: Tx, t: SchemaNames, period: HistoryPartitionPeriod, bound: Date, lockTimeout: string): Promise<boolean> {
  // An empty search_path makes every name Postgres prints below schema-qualified.
  await tx`SELECT set_config('lock_timeout', ${lockTimeout}, true), set_config('search_path', '', true)`;
  await tx`LOCK TABLE ${tx(t.history)} IN ACCESS EXCLUSIVE MODE`;
  if (await readHistoryPartitioning(tx, t)) return false;
  const { unpartitioned, default: def } = partitionNames(t);
  const old = unpartitioned.split('.')[1]!;
  // Views bind to the table, not its name (the audit view, and any of the application's); their
  // options (security_invoker, security_barrier, check_option) go with them.
  const views = await tx<{ name: string; def: string; options: string | null }[]>`
    SELECT DISTINCT n.nspname || '.' || v.relname AS name, pg_get_viewdef(v.oid) AS def,
           (SELECT string_agg(quote_ident(o.option_name) || '=' || quote_literal(o.option_value), ', ')
              FROM pg_options_to_table(v.reloptions) o) AS options
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
  for (const v of views) {
    await tx`CREATE OR REPLACE VIEW ${tx(v.name)} ${tx.unsafe(v.options ? `WITH (${v.options})` : '')} AS ${tx.unsafe(v.def.replace(/;\s*$/, ''))}`;
  }
  for (const g of grants.filter((g) => GRANTABLE.has(g.privilege))) {
    await tx`GRANT ${tx.unsafe(g.privilege)} ON ${tx(t.history)} TO ${g.grantee === null ? tx.unsafe('PUBLIC') : tx(g.grantee)}
             ${tx.unsafe(g.grantable ? 'WITH GRANT OPTION' : '')}`;
  }
  await comment(tx, t, period);
  return true;
}
