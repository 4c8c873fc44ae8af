import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded.js';
import postgres from 'postgres';

/** A streaming replica (hot standby) of the test server, on this machine. */
export interface Replica {
  /** `url` (a URL of the test server), with the replica's port: the same database, read-only. */
  via(url: string): string;
  /** A superuser pool on the replica's `postgres` database (replay control, recovery checks). */
  admin: postgres.Sql;
  /** Waits until the replica has replayed everything the primary had written when called. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Holds replay: the replica keeps answering, with the data of the moment it paused. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Catches up, then runs `fn` with replay paused (resumed after, whatever happens). */
  whilePaused(fn: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** Why no replica can be made of the test server, or null when one can. */
export type ReplicaResult = { replica: Replica; skip: null } | { replica: null; skip: string };

// What pg_basebackup leaves out of a backup: the server's runtime state, and the WAL (streamed).
const LEAVE_EMPTY = new Set(['pg_wal', 'pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans']);
const LEAVE_OUT = new Set(['postmaster.pid', 'postmaster.opts', 'postgresql.auto.conf.tmp', 'standby.signal', 'recovery.signal']);

/** Copies a data directory that is being written to: a file dropped meanwhile (a test's database) is skipped; WAL replay settles it. */
function copyLiveTree(from: string, to: string, top = true): void {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(from)) {
    if (top && LEAVE_OUT.has(name)) continue;
    const source = path.join(from, name);
    const target = path.join(to, name);
    try {
      const st = lstatSync(source);
      if (st.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
      else if (st.isDirectory()) (top && LEAVE_EMPTY.has(name) ? mkdirSync(target, { mode: 0o700 }) : copyLiveTree(source, target, false));
      else if (!name.startsWith('pgsql_tmp')) copyFileSync(source, target);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
  }
}

/**
 * Makes a hot standby of the test server of `adminUrl` (a superuser's URL), streaming from it
 * through a replication role and slot of its own, on a port of its own; waits until it is in
 * recovery and caught up. The base backup is the one pg_basebackup takes (`-c fast`, WAL streamed
 * from a slot reserved before it), made with the server's own backup functions and a copy of its
 * data directory: the test server is the embedded Postgres 17, and Debian's pg_basebackup 15
 * refuses a server newer than itself. So the server must run on this machine; the replica runs
 * with its binaries (the same version, as streaming needs), as the `postgres` user when root.
 */
export async function startReplica(adminUrl: string): Promise<ReplicaResult> {
  const server = new URL(adminUrl);
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(server.hostname)) {
    return { replica: null, skip: `the test server (${server.hostname}) is not on this machine: a replica is made from its data directory` };
  }
  const primary = postgres(adminUrl, { max: 1, onnotice: () => {} });
  let dir = '';
  let slot = '';
  let stopServer = () => {};
  try {
    const [s] = await primary<{ data: string; level: string; senders: string }[]>`
      SELECT current_setting('data_directory') AS data, current_setting('wal_level') AS level, current_setting('max_wal_senders') AS senders`;
    const pidFile = path.join(s!.data, 'postmaster.pid');
    if (!existsSync(pidFile)) return { replica: null, skip: `the test server's data directory (${s!.data}) is not readable here` };
    if (!existsSync('/proc/self/exe')) return { replica: null, skip: 'no /proc here: the replica runs the server\'s own binaries, found by its pid' };
    if (s!.level === 'minimal' || s!.senders === '0') return { replica: null, skip: `the test server cannot stream (wal_level ${s!.level}, max_wal_senders ${s!.senders})` };
    // The server's own binaries: a standby must run the primary's major version.
    const bin = path.dirname(readlinkSync(`/proc/${readFileSync(pidFile, 'utf8').split('\n')[0]}/exe`));

    // A role and a slot per replica: test files in parallel each make their own.
    slot = `taiat_replica_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await primary.unsafe(`CREATE ROLE ${slot} WITH REPLICATION LOGIN PASSWORD '${password}'`);
    await allowReplication(primary, slot);
    await primary`SELECT pg_create_physical_replication_slot(${slot}, true)`;

    dir = mkdtempSync(path.join(os.tmpdir(), 'taiat-replica-'));
    const data = path.join(dir, 'data');
    const backup = await primary.reserve();
    try {
      await backup`SELECT pg_backup_start('taiat test replica', true)`;
      copyLiveTree(s!.data, data);
      const [stopped] = await backup<{ labelfile: string; spcmapfile: string }[]>`SELECT labelfile, spcmapfile FROM pg_backup_stop(false)`;
      writeFileSync(path.join(data, 'backup_label'), stopped!.labelfile);
      if (stopped!.spcmapfile) writeFileSync(path.join(data, 'tablespace_map'), stopped!.spcmapfile);
    } finally {
      backup.release();
    }
    // A standby needs at least the primary's values of these, and the test server raised some.
    const limits = await primary<{ name: string; setting: string }[]>`
      SELECT name, setting FROM pg_settings
       WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')`;
    const port = await freePort();
    writeFileSync(path.join(data, 'standby.signal'), '');
    writeFileSync(path.join(data, 'postgresql.auto.conf'), [
      `primary_conninfo = 'host=${server.hostname} port=${server.port} user=${slot} password=${password} application_name=${slot}'`,
      `primary_slot_name = '${slot}'`,
      `port = ${port}`, 'hot_standby = on', 'fsync = off',
      ...limits.map((l) => `${l.name} = ${l.setting}`),
      '',
    ].join('\n'));

    const as = runAs(dir);
    const pgCtl = (args: string[]) => spawnSync(path.join(bin, 'pg_ctl'), args, { ...as, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    stopServer = () => void pgCtl(['stop', '-D', data, '-m', 'immediate', '-w']);
    const started = pgCtl(['start', '-D', data, '-w', '-t', '60', '-l', path.join(dir, 'replica.log')]);
    if (started.status !== 0) {
      const log = existsSync(path.join(dir, 'replica.log')) ? readFileSync(path.join(dir, 'replica.log'), 'utf8') : '';
      throw new Error(`the replica did not start: ${started.stderr} ${log}`);
    }
    const via = (url: string) => {
      const u = new URL(url);
      u.port = String(port);
      return u.toString();
    };
    const admin = postgres(via(adminUrl), { max: 2, onnotice: () => {} });
    const replica: Replica = {
      via,
      admin,
      async caughtUp(timeoutMs = 20_000) {
        // The insert position: the test server commits asynchronously, so a commit may not be written yet.
        const [{ lsn }] = await primary<[{ lsn: string }]>`SELECT pg_current_wal_insert_lsn()::text AS lsn`;
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const [r] = await admin<{ recovering: boolean; behind: boolean }[]>`
            SELECT pg_is_in_recovery() AS recovering, coalesce(pg_last_wal_replay_lsn() < ${lsn}::pg_lsn, true) AS behind`;
          if (!r!.recovering) throw new Error('the replica is not in recovery');
          if (!r!.behind) return;
          if (Date.now() > deadline) throw new Error(`the replica did not catch up with ${lsn} in ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      },
      pause: async () => void (await admin`SELECT pg_wal_replay_pause()`),
      resume: async () => void (await admin`SELECT pg_wal_replay_resume()`),
      async whilePaused(fn) {
        await replica.caughtUp();
        await replica.pause();
        try {
          await fn();
        } finally {
          await replica.resume();
        }
      },
      async stop() {
        await admin.end({ timeout: 1 });
        stopServer();
        await dropSlot(primary, slot);
        await primary.end();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await retry(() => replica.caughtUp(), 30_000);
    return { replica, skip: null };
  } catch (error) {
    stopServer(); // pg_ctl -w may have given up on a server still starting
    if (slot) await dropSlot(primary, slot).catch(() => undefined);
    await primary.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A pg_hba.conf of initdb's allows replication from 127.0.0.1; any other gets a line for the role. */
async function allowReplication(primary: postgres.Sql, role: string): Promise<void> {
  const [rule] = await primary<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_hba_file_rules
     WHERE type = 'host' AND 'replication' = ANY(database) AND address IN ('127.0.0.1', '0.0.0.0') AND error IS NULL`;
  if (rule!.n > 0) return;
  const [{ file }] = await primary<[{ file: string }]>`SELECT current_setting('hba_file') AS file`;
  writeFileSync(file, `${readFileSync(file, 'utf8')}\nhost replication ${role} 127.0.0.1/32 scram-sha-256\n`);
  await primary`SELECT pg_reload_conf()`;
}

/** The slot holds WAL on the test server for as long as it exists; its role goes with it. */
async function dropSlot(primary: postgres.Sql, slot: string): Promise<void> {
  await retry(async () => {
    await primary`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${slot}`;
  }, 10_000);
  await primary.unsafe(`DROP ROLE IF EXISTS ${slot}`);
}

async function retry(fn: () => Promise<void>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Postgres refuses to run as root: then the replica belongs to, and runs as, the `postgres` user. */
function runAs(dir: string): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  execFileSync('chown', ['-R', `${uid}:${gid}`, dir]);
  chmodSync(dir, 0o700);
  chmodSync(path.join(dir, 'data'), 0o700);
  return { uid, gid };
}
