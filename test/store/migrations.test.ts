import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Logger, migrate, status as gmStatus } from 'graphile-migrate';
import { clearAllPools } from 'graphile-migrate/dist/pgReal.js';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { runMigrations, verifySchema } from '../../src/index.js';
import { MIGRATIONS_FOLDER } from '../../src/store/migration-files.js';
import { createDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';

/** Every committed migration, in order: a database brought up to date has applied each. */
const COMMITTED = readdirSync(path.join(MIGRATIONS_FOLDER, 'committed')).filter((f) => /^\d{6}\.sql$/.test(f)).sort();

const drops: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (drops.length) await drops.pop()!();
});

async function fresh() {
  const db = await createDatabase({ migrated: false });
  drops.push(db.drop);
  return db;
}

async function relations(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ name: string }[]>`
      SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`;
    return rows.map((r) => r.name);
  } finally {
    await sql.end();
  }
}

describe('migrations', () => {
  it('verify-only reports an empty database as not current, exit 1, and changes nothing', async () => {
    const db = await fresh();
    const result = await runBin('taiat', ['init', '--verify-only', '--database-url', db.url]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('schema public is not current');
    expect(result.stdout).toContain('migration 000001.sql');
    expect(result.stdout).toContain('relation taiat_jobs');
    // In the default schema the instance may be elsewhere: init there would make a second one.
    expect(result.stdout).toMatch(/if your instance is in another schema, name it \(--schema, TAIAT_SCHEMA.*\); else run `taiat init` to apply\n$/);
    const named = await runBin('taiat', ['init', '--verify-only', '--database-url', db.url, '--schema', 'app_jobs']);
    expect(named.stdout).toMatch(/^schema app_jobs is not current;[\s\S]*\nrun `taiat init --schema app_jobs` to apply\n$/);
    expect(await relations(db.url)).toEqual([]);
  });

  it('two processes running init at once both succeed, and the schema is then current', async () => {
    const db = await fresh();
    const [a, b] = await Promise.all([
      runBin('taiat', ['init', '--database-url', db.url]),
      runBin('taiat', ['init'], { TAIAT_DATABASE_URL: db.url }),
    ]);
    expect([a.code, b.code, a.stderr + b.stderr]).toEqual([0, 0, expect.any(String)]);
    const verify = await runBin('taiat', ['init', '--verify-only', '--json'], { DATABASE_URL: db.url });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toEqual({ current: true, missing: [], applied: COMMITTED });
    expect(await relations(db.url)).toEqual(expect.arrayContaining(['public.taiat_jobs', 'public.taiat_job_history', 'public.taiat_workers', 'public.taiat_all_jobs']));
  });

  it('applying twice is a no-op, and verify notices a dropped relation', async () => {
    const db = await fresh();
    await runMigrations(db.url);
    await runMigrations(db.url);
    expect(await verifySchema(db.url)).toMatchObject({ current: true });
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    await sql`DROP VIEW taiat_all_jobs`;
    await sql.end();
    expect(await verifySchema(db.url)).toEqual({ current: false, missing: ['relation taiat_all_jobs'], applied: COMMITTED });
  });

  it('reports an unreachable database with its code, without the password', async () => {
    const result = await runBin('taiat', ['init', '--database-url', 'postgres://someone:hunter2secret@127.0.0.1:1/nowhere']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error \[TAIAT_DATABASE_UNAVAILABLE\]: cannot reach the database at postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere/);
    expect(result.stdout + result.stderr).not.toContain('hunter2secret');
  });

  it('asks for a database URL when none is given', async () => {
    const result = await runBin('taiat', ['init']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error [TAIAT_CONFIG_INVALID]: databaseUrl: no database URL');
  });
});

/** An application's own graphile-migrate project: one committed migration of its own. */
async function appProject(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-app-'));
  const body = 'CREATE TABLE app_orders (id serial PRIMARY KEY, total numeric NOT NULL);\n';
  const hash = `sha1:${createHash('sha1').update(`${`\n${body.trim()}`.trim()}\n`).digest('hex')}`;
  await mkdir(path.join(dir, 'migrations', 'committed'), { recursive: true });
  await writeFile(path.join(dir, 'migrations', 'committed', '000001.sql'), `--! Previous: -\n--! Hash: ${hash}\n\n${body}`);
  await writeFile(path.join(dir, 'migrations', 'current.sql'), '');
  drops.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A graphile-migrate folder holding these of taiat's committed migrations: the schema of an earlier version. */
async function earlierMigrations(files: string[]): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'taiat-earlier-'));
  drops.push(() => rm(folder, { recursive: true, force: true }));
  await mkdir(path.join(folder, 'committed'));
  await writeFile(path.join(folder, 'current.sql'), '');
  for (const f of files) await copyFile(path.join(MIGRATIONS_FOLDER, 'committed', f), path.join(folder, 'committed', f));
  return folder;
}

async function graphileMigrate(url: string, folder: string): Promise<string[]> {
  const settings = { connectionString: url, shadowConnectionString: `${url}_shadow_unused`, migrationsFolder: folder, logger: new Logger(() => () => {}) };
  try {
    await migrate(settings);
    return (await gmStatus(settings)).remainingMigrations ?? [];
  } finally {
    clearAllPools();
  }
}

describe('migrations beside an application', () => {
  it('an application on graphile-migrate and taiat each keep their own record, in either order', async () => {
    for (const taiatFirst of [false, true]) {
      const db = await fresh();
      const app = await appProject();
      if (taiatFirst) expect((await runBin('taiat', ['init', '--database-url', db.url])).code).toBe(0);
      expect(await graphileMigrate(db.url, path.join(app, 'migrations'))).toEqual([]);
      const init = await runBin('taiat', ['init', '--database-url', db.url]);
      expect([init.code, init.stderr]).toEqual([0, expect.any(String)]);
      expect(await graphileMigrate(db.url, path.join(app, 'migrations'))).toEqual([]);
      const verify = await runBin('taiat', ['init', '--verify-only', '--json', '--database-url', db.url]);
      expect(JSON.parse(verify.stdout)).toEqual({ current: true, missing: [], applied: COMMITTED });
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      try {
        expect((await sql`SELECT filename FROM graphile_migrate.migrations`).map((r) => r.filename)).toEqual(['000001.sql']);
        expect(await relations(db.url)).toEqual(expect.arrayContaining(['public.app_orders', 'public.taiat_jobs', 'public.taiat_migrations']));
      } finally {
        await sql.end();
      }
    }
  });

  it('upgrades a database that taiat 0.1 initialised (its record in graphile-migrate), jobs and all', async () => {
    const db = await fresh();
    // What taiat 0.1's init did: graphile-migrate over taiat's own folder, as it was then.
    expect(await graphileMigrate(db.url, await earlierMigrations(['000001.sql', '000002.sql', '000003.sql']))).toEqual([]);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await sql`INSERT INTO taiat_jobs (id, job_type, name) VALUES ('kept', 'task', 'from 0.1')`;
      expect((await verifySchema(db.url)).missing).toEqual(COMMITTED.map((f) => `migration ${f}`));
      await runMigrations(db.url);
      expect(await verifySchema(db.url)).toEqual({ current: true, missing: [], applied: COMMITTED });
      expect((await sql`SELECT id FROM taiat_jobs`).map((r) => r.id)).toEqual(['kept']);
      expect((await sql`SELECT count(*)::int AS n FROM graphile_migrate.migrations`)[0]!.n).toBe(3);
    } finally {
      await sql.end();
    }
  });

  it('000010, which recreates the limited claim with new arguments, carries its grants over', async () => {
    const db = await fresh();
    expect(await graphileMigrate(db.url, await earlierMigrations(COMMITTED.filter((f) => f < '000010.sql')))).toEqual([]);
    // Roles are cluster-wide: a name of this run's, dropped after the database.
    const role = `taiat_claimer_${process.pid}_${Date.now()}`;
    const admin = new URL(db.url);
    admin.pathname = '/postgres';
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    drops.push(async () => {
      const a = postgres(admin.href, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP ROLE IF EXISTS ${role}`).finally(() => a.end());
    });
    try {
      await sql.unsafe(`CREATE ROLE ${role}`);
      await sql.unsafe(`REVOKE EXECUTE ON FUNCTION taiat_claim_limited(varchar[], varchar, integer, double precision) FROM PUBLIC`);
      await sql.unsafe(`GRANT EXECUTE ON FUNCTION taiat_claim_limited(varchar[], varchar, integer, double precision) TO ${role}`);
      await runMigrations(db.url);
      const grantees = await sql<{ grantee: string }[]>`
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
          FROM pg_proc p, aclexplode(p.proacl) a
         WHERE p.oid = 'taiat_claim_limited(varchar[], varchar, integer, double precision, varchar[], varchar[])'::regprocedure
           AND a.privilege_type = 'EXECUTE'`;
      expect(grantees.map((g) => g.grantee)).toContain(role);
      expect(grantees.map((g) => g.grantee)).not.toContain('PUBLIC');
    } finally {
      // Its grants here go, so that the role can be dropped while the database still exists.
      await sql.unsafe(`DROP OWNED BY ${role}`).catch(() => {});
      await sql.end();
    }
  });

  it('refuses a committed migration whose text changed after it was applied, changing nothing', async () => {
    const db = await fresh();
    await runMigrations(db.url);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await sql`UPDATE taiat_migrations SET hash = 'sha1:0' WHERE filename = '000002.sql'`;
      await expect(runMigrations(db.url)).rejects.toMatchObject({ code: 'TAIAT_SCHEMA_NOT_CURRENT', message: expect.stringMatching(/000002\.sql was applied with another text/) });
      expect((await verifySchema(db.url)).missing).toEqual(['migration 000002.sql']);
    } finally {
      await sql.end();
    }
  });
});

describe('a migration that fails', () => {
  it('is reported with a taiat code naming it, and leaves nothing behind', async () => {
    const db = await fresh();
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await sql`CREATE SCHEMA clash`;
      await sql`CREATE TABLE clash.taiat_jobs (something int)`;
      const error = await runMigrations(db.url, { schema: 'clash' }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'TAIAT_SCHEMA_NOT_CURRENT',
        message: expect.stringMatching(/^migration 000001\.sql failed in schema clash, and nothing of it was kept: relation "taiat_jobs" already exists/),
      });
      const tables = await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'clash'`;
      expect(tables.map((r) => r.table_name)).toEqual(['taiat_jobs']);
    } finally {
      await sql.end();
    }
  });
});
