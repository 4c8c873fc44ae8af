import { resolveSchema } from '../config/schema-name.js';
import { isConnectionError, openConnection, translateDatabaseError, type Sql, type Tx } from '../db/connection.js';
import { TaiatError } from '../errors.js';
import { committedMigrations, type CommittedMigration } from './migration-files.js';
import { schemaNames, type SchemaNames } from './schema-names.js';

export { MIGRATIONS_FOLDER } from './migration-files.js';

/** The relations taiat's code relies on; `verifySchema` checks each exists. */
export const SCHEMA_RELATIONS = ['taiat_jobs', 'taiat_job_history', 'taiat_workers', 'taiat_all_jobs'] as const;

export interface SchemaStatus {
  current: boolean;
  /** Committed migrations not applied yet, and relations that are missing. */
  missing: string[];
  applied: string[];
}

export interface MigrationOptions {
  /** The schema of the instance (default: `TAIAT_SCHEMA`, then `public`). */
  schema?: string;
  /** Called with a line for each step taken. */
  log?: (message: string) => void;
}

/**
 * Applies every committed migration not applied yet to the instance in `schema` (created if
 * missing), all in one transaction: a failure leaves the database as it was. Idempotent, and
 * safe to run from several processes at once: they queue on an advisory lock. Applied migrations
 * are recorded in the schema's own `taiat_migrations`, never in a table an application or its
 * tools own. A database initialised by taiat 0.1 (whose record is graphile-migrate's) is adopted.
 * `log` may be passed in place of the options (the former signature).
 */
export async function runMigrations(url: string, options: MigrationOptions | ((message: string) => void) = {}): Promise<void> {
  const opts = typeof options === 'function' ? { log: options } : options;
  const t = schemaNames(resolveSchema(opts.schema));
  const log = opts.log ?? (() => {});
  const expected = await committedMigrations();
  const conn = openConnection(url, { max: 1, applicationName: 'taiat init' });
  try {
    await conn.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${t.lockKey('migrate')}::bigint)`;
      const [{ exists } = { exists: false }] = await tx<{ exists: boolean }[]>`
        SELECT to_regnamespace(${t.schema}) IS NOT NULL AS exists`;
      if (!exists) {
        log(`creating schema ${t.schema}`);
        await tx`CREATE SCHEMA ${tx(t.schema)}`;
      }
      await tx`
        CREATE TABLE IF NOT EXISTS ${tx(t.migrations)} (
          filename text PRIMARY KEY,
          hash text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())`;
      const applied = await appliedOrAdopted(tx, t, expected, log);
      for (const m of expected) {
        const done = applied.get(m.filename);
        if (done === m.hash) continue;
        if (done !== undefined) {
          throw new TaiatError('TAIAT_SCHEMA_NOT_CURRENT', `migration ${m.filename} was applied with another text (hash ${done}); this taiat does not match the database`);
        }
        log(`applying migration ${m.filename} to schema ${t.schema}`);
        // The migrations name no schema: the search path puts what they create in this one.
        await tx`SELECT set_config('search_path', ${t.schema}, true)`;
        await tx.unsafe(m.body).simple().catch((error: unknown) => {
          if (isConnectionError(error)) throw error;
          throw new TaiatError('TAIAT_SCHEMA_NOT_CURRENT', `migration ${m.filename} failed in schema ${t.schema}, and nothing of it was kept: ${(error as Error).message}`, { cause: error });
        });
        await tx`INSERT INTO ${tx(t.migrations)} (filename, hash) VALUES (${m.filename}, ${m.hash})`;
      }
    });
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    await conn.close();
  }
}

/**
 * The migrations recorded as applied. An instance in `public` initialised by taiat 0.1 has its
 * record in `graphile_migrate.migrations` only: taiat's own rows there (those whose file name and
 * hash are taiat's) are copied into `taiat_migrations`, once. Other rows there are an
 * application's and are never read as taiat's.
 */
async function appliedOrAdopted(tx: Tx, t: SchemaNames, expected: CommittedMigration[], log: (message: string) => void): Promise<Map<string, string>> {
  const rows = await tx<{ filename: string; hash: string }[]>`SELECT filename, hash FROM ${tx(t.migrations)}`;
  if (rows.length > 0) return new Map(rows.map((r) => [r.filename, r.hash]));
  const [legacy] = await tx<{ ok: boolean }[]>`
    SELECT to_regclass('graphile_migrate.migrations') IS NOT NULL AND to_regclass(${t.jobs}) IS NOT NULL AS ok`;
  if (!legacy?.ok) return new Map();
  const adopted = await tx<{ filename: string; hash: string }[]>`
    INSERT INTO ${tx(t.migrations)} (filename, hash, applied_at)
    SELECT g.filename, g.hash, g.date FROM graphile_migrate.migrations g
      JOIN unnest(${expected.map((m) => m.filename)}::text[], ${expected.map((m) => m.hash)}::text[]) AS e(filename, hash)
        ON e.filename = g.filename AND e.hash = g.hash
    RETURNING filename, hash`;
  if (adopted.length > 0) log(`adopted ${adopted.length} migration(s) recorded by graphile-migrate (taiat 0.1)`);
  return new Map(adopted.map((r) => [r.filename, r.hash]));
}

/** The relations among `SCHEMA_RELATIONS` missing from the instance's schema, as `relation <name>`. */
export async function missingRelations(sql: Sql, t: SchemaNames): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT name FROM unnest(${[...SCHEMA_RELATIONS]}::text[]) AS name WHERE to_regclass(${t.schema} || '.' || name) IS NULL`;
  return rows.map((r) => `relation ${r.name}`);
}

/** Reports whether the schema of an instance is current, without changing anything. */
export async function verifySchema(url: string, options: Pick<MigrationOptions, 'schema'> & { transactionPooling?: boolean } = {}): Promise<SchemaStatus> {
  const t = schemaNames(resolveSchema(options.schema));
  const pooled = options.transactionPooling;
  const conn = openConnection(url, { max: 1, applicationName: 'taiat verify', ...(pooled === undefined ? {} : { prepare: !pooled }) });
  try {
    const expected = await committedMigrations();
    const [{ recorded } = { recorded: false }] = await conn.sql<{ recorded: boolean }[]>`
      SELECT to_regclass(${t.migrations}) IS NOT NULL AS recorded`;
    const applied = recorded
      ? await conn.sql<{ filename: string; hash: string }[]>`SELECT filename, hash FROM ${conn.sql(t.migrations)} ORDER BY filename`
      : [];
    const appliedHashes = new Map(applied.map((m) => [m.filename, m.hash]));
    const missing = expected.filter((m) => appliedHashes.get(m.filename) !== m.hash).map((m) => `migration ${m.filename}`);
    missing.push(...(await missingRelations(conn.sql, t)));
    return { current: missing.length === 0, missing, applied: applied.map((m) => m.filename) };
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    await conn.close();
  }
}
