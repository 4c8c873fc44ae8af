import path from 'node:path';
import { resolveDatabaseUrl } from '../config/database-url.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { runMigrations } from '../store/index.js';
import { TaiatError } from '../errors.js';
import { JobManager } from '../manager/job-manager.js';

/** Options every taiat command takes. */
export interface DatabaseArgs {
  databaseUrl?: string | undefined;
  embedded?: boolean | undefined;
  schema?: string | undefined;
}

export const databaseOptions = {
  'database-url': {
    type: 'string',
    describe: 'Postgres URL (default: $TAIAT_DATABASE_URL, then $DATABASE_URL)',
  },
  embedded: {
    type: 'boolean',
    default: false,
    describe: 'Use a local Postgres kept under .taiat/ in this folder, started on demand',
  },
  schema: {
    type: 'string',
    describe: 'Schema of the taiat instance (default: $TAIAT_SCHEMA, then public)',
  },
} as const;

/** The folder of the embedded cluster: `.taiat/` of the current folder. */
export const EMBEDDED_DIR = path.resolve('.taiat');

/**
 * The database URL of a command: the embedded cluster (started, and migrated, on demand), or
 * the URL from the flag or the environment.
 */
export async function databaseUrlFor(args: DatabaseArgs): Promise<string> {
  if (args.embedded) {
    const server = await startEmbeddedPostgres({ dir: EMBEDDED_DIR, database: 'taiat' });
    await runMigrations(server.url, { schema: args.schema });
    return server.url;
  }
  return resolveDatabaseUrl({ explicit: args.databaseUrl });
}

/** Prints an error as `error [CODE]: message` on stderr and sets a failing exit code. */
export function reportError(error: unknown): void {
  if (error instanceof TaiatError) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`);
  } else {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = process.exitCode || 1;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export const jsonOption = {
  json: { type: 'boolean', default: false, describe: 'Print JSON' },
} as const;

/** Runs a command with a connected `JobManager`, closing it afterwards. */
export async function withManager(args: DatabaseArgs, fn: (jobs: JobManager) => Promise<void>): Promise<void> {
  const jobs = await JobManager.connect({ databaseUrl: await databaseUrlFor(args), schema: args.schema });
  try {
    await fn(jobs);
  } finally {
    await jobs.close();
  }
}
