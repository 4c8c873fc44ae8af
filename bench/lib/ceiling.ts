/**
 * The ceiling: what this server can do for the least work one job needs, measured with pgbench.
 * Each transaction claims `jobsPerTx` rows of a plain jobs table with FOR UPDATE SKIP LOCKED and
 * moves them to a history table, in one statement (so one transaction, one commit).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { withTimeout } from './time.js';

export const DEFAULT_PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

export function pgbenchPath(): string | null {
  const candidate = process.env.PGBENCH ?? DEFAULT_PGBENCH;
  return existsSync(candidate) ? candidate : null;
}

export const CEILING_SCRIPT = (jobsPerTx: number) => `-- taiat bench ceiling: claim ${jobsPerTx} job(s) and move them to history, one transaction
WITH claimed AS (
  SELECT id FROM bench_jobs ORDER BY id LIMIT ${jobsPerTx} FOR UPDATE SKIP LOCKED
), moved AS (
  DELETE FROM bench_jobs j USING claimed c WHERE j.id = c.id
  RETURNING j.id, j.queue, j.payload, j.created_at
)
INSERT INTO bench_history (id, queue, payload, created_at)
SELECT id, queue, payload, created_at FROM moved;
`;

export interface CeilingResult {
  jobsPerTx: number;
  clients: number;
  transactions: number;
  tps: number;
  jobsPerSecond: number;
  moved: number;
  expected: number;
  failedTransactions: number;
  ok: boolean;
  detail: string;
}

function runPgbench(bin: string, args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<string> {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}:\n${out.slice(-3000)}`))));
  });
  return withTimeout(done, ms, 'pgbench').catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
}

export async function runCeiling(opts: {
  url: string;
  jobsPerTx: number;
  clients: number;
  txPerClient: number;
  timeoutMs: number;
}): Promise<CeilingResult> {
  const bin = pgbenchPath();
  if (!bin) throw new Error(`pgbench not found (set PGBENCH; default ${DEFAULT_PGBENCH})`);
  const { jobsPerTx, clients, txPerClient } = opts;
  const transactions = clients * txPerClient;
  const expected = transactions * jobsPerTx;
  // A surplus, so a transaction always finds enough unlocked rows while others hold theirs.
  const total = expected + Math.max(1000, Math.ceil(expected * 0.1), clients * jobsPerTx * 4);
  const sql = postgres(opts.url, { max: 1, onnotice: () => {} });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-bench-pgbench-'));
  try {
    await sql.unsafe(`
      CREATE TABLE bench_jobs (
        id bigint PRIMARY KEY, queue text NOT NULL DEFAULT 'default', payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE bench_history (
        id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL,
        completed_at timestamptz NOT NULL DEFAULT now());`);
    await sql`INSERT INTO bench_jobs (id) SELECT g FROM generate_series(1, ${total}::int) g`;
    await sql.unsafe('VACUUM ANALYZE bench_jobs');
    await sql.unsafe('CHECKPOINT').catch(() => {}); // needs superuser; just settles the WAL when allowed
    const script = path.join(dir, `ceiling-${jobsPerTx}.sql`);
    await writeFile(script, CEILING_SCRIPT(jobsPerTx));
    const u = new URL(opts.url);
    const output = await runPgbench(
      bin,
      ['-n', '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, os.cpus().length)), '-t', String(txPerClient),
        '-f', script, '-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username), u.pathname.slice(1)],
      { PGPASSWORD: decodeURIComponent(u.password), PGAPPNAME: 'taiat bench ceiling' },
      opts.timeoutMs,
    );
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1] ?? NaN);
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1] ?? NaN);
    const failedTransactions = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
    const [counts] = await sql<{ moved: number; left: number; dupes: number }[]>`
      SELECT (SELECT count(*)::int FROM bench_history) AS moved, (SELECT count(*)::int FROM bench_jobs) AS left,
             (SELECT count(*)::int FROM bench_history h JOIN bench_jobs j USING (id)) AS dupes`;
    const moved = counts!.moved;
    const ok = moved === expected && counts!.left + moved === total && counts!.dupes === 0 && processed === transactions && failedTransactions === 0 && Number.isFinite(tps);
    return {
      jobsPerTx,
      clients,
      transactions,
      tps,
      // Each transaction moved exactly jobsPerTx rows when ok.
      jobsPerSecond: tps * (moved / transactions),
      moved,
      expected,
      failedTransactions,
      ok,
      detail: ok ? `moved ${moved} rows exactly once` : `moved ${moved}/${expected}, left ${counts!.left} of ${total}, in both tables ${counts!.dupes}, processed ${processed}/${transactions}, failed ${failedTransactions}; pgbench said:\n${output.slice(-1500)}`,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await rm(dir, { recursive: true, force: true });
  }
}
