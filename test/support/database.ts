import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import { escapeIdentifier } from '../../src/db/embedded.js';

export interface TestDatabase {
  /**
   * URL of this file's own database, freshly cloned from the migrated template; in the pooling
   * pass (TAIAT_TEST_VIA_PGBOUNCER=1), through pgbouncer.
   */
  url: string;
  /** The same database, never through pgbouncer. */
  directUrl: string;
  /** A small pool on it for assertions; closed by the helper. */
  sql: postgres.Sql;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Connections open to `database`, once they dropped to 0 or after 2 s of waiting for that. */
export async function connectionsTo(sql: postgres.Sql, database: string): Promise<number> {
  let n = -1;
  for (let i = 0; i < 40; i++) {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${database}`;
    n = row!.n;
    if (n === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return n;
}

/** Clones a fresh, migrated database for a test file, or an empty one with `{ migrated: false }`. */
export async function createDatabase(options: { migrated?: boolean } = {}): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const adminUrl = inject('adminUrl');
  const name = `taiat_t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const template = options.migrated === false ? 'template0' : inject('templateDatabase');
    // The template may still be held for a moment by the migration's closing pool (55006).
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.unsafe(`CREATE DATABASE ${escapeIdentifier(name)} TEMPLATE ${escapeIdentifier(template)}`);
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt > 100) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(adminUrl, name),
    name,
    drop: async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Connections still open to a database other than the helper's own (its count excludes itself). */
async function openConnections(sql: postgres.Sql, database: string): Promise<number> {
  for (let i = 0; i < 40; i++) {
    const [row] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${database} AND pid <> pg_backend_pid()`;
    if (row!.n === 0) return 0;
    await new Promise((r) => setTimeout(r, 50));
  }
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${database} AND pid <> pg_backend_pid()`;
  return row!.n;
}

/**
 * Gives the test file a database of its own. After the file, fails if the code under test left
 * a connection open (a leak), then drops the database.
 */
export function useTestDatabase(): TestDatabase {
  const db = {} as TestDatabase;
  let handle: Awaited<ReturnType<typeof createDatabase>>;
  beforeAll(async () => {
    handle = await createDatabase();
    db.directUrl = handle.url;
    db.url = handle.url;
    const port = inject('pgbouncerPort');
    if (port) {
      const pooled = new URL(handle.url);
      pooled.port = String(port);
      db.url = pooled.toString();
      // Each test file runs in a process of its own: its workers and managers pool through
      // pgbouncer, and listen on the direct connection.
      process.env.TAIAT_TRANSACTION_POOLING = '1';
      process.env.TAIAT_LISTEN_DATABASE_URL = handle.url;
    }
    db.sql = postgres(handle.url, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    // Through pgbouncer its server connections stay open after the clients leave: the direct pass checks leaks.
    const leaked = inject('pgbouncerPort') ? 0 : await openConnections(db.sql, handle.name);
    await db.sql.end();
    await handle.drop();
    if (leaked > 0) throw new Error(`test file left ${leaked} database connection(s) open`);
  });
  return db;
}
