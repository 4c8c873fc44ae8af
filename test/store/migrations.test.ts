import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { runMigrations, verifySchema } from '../../src/index.js';
import { createDatabase } from '../support/database.js';
import { runBin } from '../support/cli.js';

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
    expect(result.stdout).toContain('schema is not current');
    expect(result.stdout).toContain('migration 000001.sql');
    expect(result.stdout).toContain('relation taiat_jobs');
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
    expect(JSON.parse(verify.stdout)).toEqual({ current: true, missing: [], applied: ['000001.sql', '000002.sql', '000003.sql'] });
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
    expect(await verifySchema(db.url)).toEqual({ current: false, missing: ['relation taiat_all_jobs'], applied: ['000001.sql', '000002.sql', '000003.sql'] });
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
