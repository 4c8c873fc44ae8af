/**
 * Folders of throwaway embedded Postgres clusters under the OS temp dir. Each holds its owner's
 * pid, so that a later run removes the clusters of runs that died (SIGKILL, crash) and leaves
 * those of a run still going alone.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stopEmbeddedPostgres } from '../../dist/db/embedded.js';

export interface ClusterDirOptions {
  /** Prefix of the folder names, e.g. `taiat-bench-pg-`. */
  prefix: string;
  /** Name of the file holding the owner's pid. */
  ownerFile: string;
  /** Whose clusters, for the log line: `benchmark`, `soak`. */
  owner: string;
  log: (line: string) => void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeStaleClusters(options: ClusterDirOptions): Promise<void> {
  const tmp = os.tmpdir();
  for (const entry of await readdir(tmp)) {
    if (!entry.startsWith(options.prefix)) continue;
    const dir = path.join(tmp, entry);
    const owner = Number((await readFile(path.join(dir, options.ownerFile), 'utf8').catch(() => '')).trim());
    if (owner && alive(owner)) continue;
    options.log(`removing a stale ${options.owner} cluster in ${dir}`);
    await stopEmbeddedPostgres(dir).catch(() => false);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes stale clusters of the same prefix, then creates a folder owned by this process. */
export async function newClusterDir(options: ClusterDirOptions): Promise<string> {
  await removeStaleClusters(options);
  const dir = await mkdtemp(path.join(os.tmpdir(), options.prefix));
  await writeFile(path.join(dir, options.ownerFile), `${process.pid}\n`);
  return dir;
}
