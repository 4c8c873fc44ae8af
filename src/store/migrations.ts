import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openConnection, translateDatabaseError, type Sql } from '../db/connection.js';
import { advisoryLockKey } from './locks.js';

/** The committed SQL shipped with the package (dist/store -> ../../migrations). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

/** The relations taiat's code relies on; `verifySchema` checks each exists. */
export const SCHEMA_RELATIONS = ['taiat_jobs', 'taiat_job_history', 'taiat_workers', 'taiat_all_jobs'] as const;

export interface SchemaStatus {
  current: boolean;
  /** Committed migrations not applied yet, and relations that are missing. */
  missing: string[];
  applied: string[];
}

interface CommittedMigration {
  filename: string;
  hash: string;
}

async function committedMigrations(): Promise<CommittedMigration[]> {
  const folder = path.join(MIGRATIONS_FOLDER, 'committed');
  const files = (await readdir(folder)).filter((f) => /^\d+.*\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (filename) => {
      const text = await readFile(path.join(folder, filename), 'utf8');
      const hash = /^--! Hash: (\S+)/m.exec(text)?.[1] ?? '';
      return { filename, hash };
    }),
  );
}

/**
 * Applies every committed migration not applied yet. Idempotent, and safe to run from several
 * processes at once: they queue on an advisory lock.
 */
export async function runMigrations(url: string, log: (message: string) => void = () => {}): Promise<void> {
  // Loaded here, not at start-up: only init needs it, and it costs ~0.1 s to import.
  const { Logger, migrate: graphileMigrate } = await import('graphile-migrate');
  const { clearAllPools } = await import('graphile-migrate/dist/pgReal.js');
  const conn = openConnection(url, { max: 1, applicationName: 'taiat init' });
  try {
    await conn.sql.begin(async (tx) => {
      // graphile-migrate fails at once when another process holds its own lock; taiat init waits
      // its turn instead, on a transaction-level lock held here while graphile-migrate works.
      await tx`SELECT pg_advisory_xact_lock(${advisoryLockKey('migrate')}::bigint)`;
      await graphileMigrate({
        connectionString: url,
        migrationsFolder: MIGRATIONS_FOLDER,
        logger: new Logger(() => (level, message) => {
          if (level !== 'debug') log(message);
        }),
      });
    });
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    // graphile-migrate keeps a pool alive ~200 ms and exits the process if it errors later.
    clearAllPools();
    await conn.close();
  }
}

/** The relations among `SCHEMA_RELATIONS` that do not exist, as `relation <name>`. */
export async function missingRelations(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT name FROM unnest(${[...SCHEMA_RELATIONS]}::text[]) AS name WHERE to_regclass(name) IS NULL`;
  return rows.map((r) => `relation ${r.name}`);
}

/** Reports whether the schema is current, without changing anything. */
export async function verifySchema(url: string): Promise<SchemaStatus> {
  const conn = openConnection(url, { max: 1, applicationName: 'taiat verify' });
  try {
    const expected = await committedMigrations();
    const [{ exists } = { exists: false }] = await conn.sql<{ exists: boolean }[]>`
      SELECT to_regclass('graphile_migrate.migrations') IS NOT NULL AS exists`;
    const applied = exists
      ? (await conn.sql<{ filename: string; hash: string }[]>`
          SELECT filename, hash FROM graphile_migrate.migrations ORDER BY filename`)
      : [];
    const appliedHashes = new Map(applied.map((m) => [m.filename, m.hash]));
    const missing = expected
      .filter((m) => appliedHashes.get(m.filename) !== m.hash)
      .map((m) => `migration ${m.filename}`);
    missing.push(...(await missingRelations(conn.sql)));
    return { current: missing.length === 0, missing, applied: applied.map((m) => m.filename) };
  } catch (error) {
    throw translateDatabaseError(error, url);
  } finally {
    await conn.close();
  }
}
