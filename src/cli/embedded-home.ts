import { existsSync } from 'node:fs';
import path from 'node:path';
import { TaiatError } from '../errors.js';

/** Where an embedded cluster was found, or will be made. */
export interface EmbeddedHome {
  dir: string;
  /** How it was chosen, for the line that says which cluster a command uses. */
  source: 'TAIAT_HOME' | 'found' | 'new';
}

/**
 * The embedded cluster of this project: `TAIAT_HOME` when set, else the nearest `.taiat/` from the
 * current folder up (as git finds `.git`), so that a command run from a sub-folder uses the
 * project's cluster. When none exists, `create` (demo, init) makes `.taiat/` here; any other
 * command fails rather than silently starting a second, empty cluster.
 */
export function findEmbeddedHome(create: boolean, cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): EmbeddedHome {
  if (env.TAIAT_HOME) return { dir: path.resolve(env.TAIAT_HOME), source: 'TAIAT_HOME' };
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.taiat'))) return { dir: path.join(dir, '.taiat'), source: 'found' };
    if (path.dirname(dir) === dir) break;
  }
  if (create) return { dir: path.resolve(cwd, '.taiat'), source: 'new' };
  throw new TaiatError(
    'TAIAT_EMBEDDED_POSTGRES',
    `no embedded Postgres (.taiat/) in ${cwd} or any folder above it: run \`taiat init --embedded\` (or \`taiat demo --embedded\`) in your project's folder first, or set TAIAT_HOME`,
  );
}
