import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded.js';

/** A real pgbouncer (Debian's package) in transaction mode in front of a test server. */
export interface Pgbouncer {
  /** `url`, with the host and port of pgbouncer instead of the server's. */
  via(url: string): string;
  stop(): void;
}

const BINARY = process.env.TAIAT_PGBOUNCER ?? '/usr/sbin/pgbouncer';

/**
 * Starts pgbouncer in transaction mode for the server of `adminUrl` (its user and password), pools
 * of `poolSize` server connections. pgbouncer refuses to run as root: as root it runs as the
 * `postgres` user, in a folder that user owns.
 */
export async function startPgbouncer(adminUrl: string, poolSize = 10): Promise<Pgbouncer> {
  if (!existsSync(BINARY)) throw new Error(`no pgbouncer at ${BINARY}: apt-get install pgbouncer (.ci/run does), or set TAIAT_PGBOUNCER`);
  const server = new URL(adminUrl);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'taiat-pgbouncer-'));
  const user = decodeURIComponent(server.username);
  writeFileSync(path.join(dir, 'userlist.txt'), `"${user}" "${decodeURIComponent(server.password)}"\n`);
  writeFileSync(path.join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = host=${server.hostname} port=${server.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1', `listen_port = ${port}`, 'unix_socket_dir =',
    'auth_type = md5', `auth_file = ${dir}/userlist.txt`,
    'pool_mode = transaction', `default_pool_size = ${poolSize}`, 'max_client_conn = 1000',
    `logfile = ${dir}/pgbouncer.log`, `pidfile = ${dir}/pgbouncer.pid`,
    'ignore_startup_parameters = extra_float_digits,options',
  ].join('\n'));
  const root = process.getuid?.() === 0;
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(path.join(dir, f), uid, gid);
    chmodSync(dir, 0o700);
  }
  const args = ['-d', path.join(dir, 'pgbouncer.ini')];
  const started = root ? spawnSync('runuser', ['-u', 'postgres', '--', BINARY, ...args]) : spawnSync(BINARY, args);
  // The daemon may have created its pid file and not yet written it: an empty read is pid 0, and
  // kill(0) would signal our own process group (CI's runner died of it once, exit 130).
  const pidFile = path.join(dir, 'pgbouncer.pid');
  const readPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0);
  for (let i = 0; i < 100 && !(readPid() > 1); i++) await new Promise((r) => setTimeout(r, 50));
  const pid = readPid();
  if (started.status !== 0 || !Number.isInteger(pid) || pid <= 1) {
    const logged = existsSync(path.join(dir, 'pgbouncer.log')) ? readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8') : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer did not start (${started.status}): ${started.stderr?.toString()} ${logged}`);
  }
  return {
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    stop() {
      try {
        process.kill(pid, 'SIGINT');
      } catch { /* gone already */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
