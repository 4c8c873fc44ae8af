import { resolveDatabaseUrl } from '../config/database-url.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { findEmbeddedHome } from './embedded-home.js';
import { runMigrations } from '../store/index.js';
import { TaiatError } from '../errors.js';
import { JobManager } from '../manager/job-manager.js';

/** Options every taiat command takes. */
export interface DatabaseArgs {
  databaseUrl?: string | undefined;
  embedded?: boolean | undefined;
  schema?: string | undefined;
  readDatabaseUrl?: string | undefined;
}

export const databaseOptions = {
  'database-url': {
    type: 'string',
    describe: 'Postgres URL (default: $TAIAT_DATABASE_URL, then $DATABASE_URL)',
  },
  embedded: {
    type: 'boolean',
    default: false,
    describe: 'Use the local Postgres of this project (.taiat/ here or above, or $TAIAT_HOME), started on demand',
  },
  schema: {
    type: 'string',
    describe: 'Schema of the taiat instance (default: $TAIAT_SCHEMA, then public)',
  },
  'read-database-url': {
    type: 'string',
    describe: 'A read replica for status, listings and the dashboard\'s pages (default: $TAIAT_READ_DATABASE_URL)',
  },
} as const;

/**
 * The database URL of a command: the embedded cluster (found from here up, or `TAIAT_HOME`;
 * started and migrated on demand; made here only by commands that may create it), or the URL
 * from the flag or the environment. Says on stderr which embedded cluster it uses.
 */
export async function databaseUrlFor(args: DatabaseArgs, options: { createEmbedded?: boolean } = {}): Promise<string> {
  if (args.embedded) {
    const home = findEmbeddedHome(options.createEmbedded ?? false);
    const server = await startEmbeddedPostgres({ dir: home.dir, database: 'taiat' });
    process.stderr.write(`embedded Postgres: ${home.dir}${home.source === 'TAIAT_HOME' ? ' (TAIAT_HOME)' : ''}${server.startedHere ? ', started' : ''}\n`);
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

/** Runs a command with a connected `JobManager` (and the URL it connected to), closing it afterwards. */
export async function withManager(args: DatabaseArgs, fn: (jobs: JobManager, url: string) => Promise<void>): Promise<void> {
  const url = await databaseUrlFor(args);
  const jobs = await JobManager.connect({ databaseUrl: url, schema: args.schema, ...(args.readDatabaseUrl ? { readDatabaseUrl: args.readDatabaseUrl } : {}) });
  try {
    await fn(jobs, url);
  } finally {
    await jobs.close();
  }
}
