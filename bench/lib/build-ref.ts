/**
 * A build of another commit of this repository, for `--against`: a detached git worktree in the
 * temporary directory, sharing this checkout's node_modules (a link: the ref is built and run with
 * today's dependencies), compiled with this checkout's TypeScript. Removed again by `remove()`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RefBuild {
  /** The ref as given, and the commit it names. */
  ref: string;
  sha: string;
  /** The build's `dist/index.js`, to import or hand to a worker process. */
  entry: string;
  remove(): Promise<void>;
}

/** Builds `ref` (anything `git rev-parse` takes) of the repository at `root`. */
export async function buildRef(root: string, ref: string, log: (line: string) => void): Promise<RefBuild> {
  const git = (...args: string[]) => run('git', ['-C', root, ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const sha = (await git('rev-parse', '--verify', `${ref}^{commit}`).catch(() => {
    throw new Error(`--against ${ref}: not a commit of this repository`);
  })).stdout.trim();
  const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'taiat-against-')), sha.slice(0, 12));
  const remove = async () => {
    await git('worktree', 'remove', '--force', dir).catch(() => undefined);
    await rm(path.dirname(dir), { recursive: true, force: true });
  };
  try {
    log(`building ${ref} (${sha.slice(0, 12)}) in ${dir}`);
    await git('worktree', 'add', '--detach', dir, sha);
    await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, maxBuffer: 16 * 1024 * 1024 })
      .catch((error: { stdout?: string }) => {
        throw new Error(`--against ${ref}: its build failed:\n${error.stdout ?? error}`);
      });
    const entry = path.join(dir, 'dist', 'index.js');
    if (!existsSync(entry)) throw new Error(`--against ${ref}: its build made no dist/index.js`);
    return { ref, sha, entry, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
