import yargs, { type Argv } from 'yargs';
import { resolveSchema } from '../config/schema-name.js';
import { initAdvice } from '../errors.js';
import { runMigrations, verifySchema } from '../store/index.js';
import { databaseOptions, databaseUrlFor, printJson, reportError } from './common.js';
import { runDemo } from './demo.js';
import { historyCommand, jobCommands, pruneCommand } from './commands/job.js';
import { printStatus } from './status-command.js';
import { surviveLostConnections } from './lost-connections.js';
import { embeddedCommand } from './commands/embedded.js';
import { scheduleCommands } from './commands/schedule.js';
import { queueCommands } from './commands/queue.js';
import { dashboardCommand } from './commands/dashboard.js';
import { VERSION } from '../version.js';

function initCommand(y: Argv) {
  return y.command(
    'init',
    'Create or upgrade the taiat tables (idempotent; safe from several processes at once)',
    (c) =>
      c
        .options(databaseOptions)
        .option('verify-only', { type: 'boolean', default: false, describe: 'Only report whether the schema is current (exit 1 if not)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print a JSON object' })
        .example('$0 init --database-url postgres://localhost/taiat', 'apply the migrations')
        .example('$0 init --verify-only', 'exit 0 when the schema is current, 1 (listing what is missing) otherwise'),
    async (argv) => {
      const url = await databaseUrlFor(argv, { createEmbedded: !argv.verifyOnly });
      if (!argv.verifyOnly) {
        await runMigrations(url, { schema: argv.schema, log: (line) => argv.json || process.stderr.write(`${line}\n`) });
      }
      const status = await verifySchema(url, { schema: argv.schema });
      if (argv.json) printJson(status);
      else if (status.current) process.stdout.write(`schema is current (${status.applied.length} migration(s) applied)\n`);
      else {
        const schema = resolveSchema(argv.schema);
        process.stdout.write(`schema ${schema} is not current; missing:\n${status.missing.map((m) => `  - ${m}`).join('\n')}\n${initAdvice(schema)} to apply\n`);
      }
      if (!status.current) process.exitCode = 1;
    },
  );
}

function demoCommand(y: Argv) {
  return y.command(
    'demo',
    'Run a small dependency graph of example agents to completion, then show status and history',
    (c) => c.options(databaseOptions).example('$0 demo --embedded', 'run the demo on a local Postgres kept under .taiat/ (made here when none is found)'),
    async (argv) => {
      await runDemo(await databaseUrlFor(argv, { createEmbedded: true }), argv.schema);
    },
  );
}

function statusCommand(y: Argv) {
  return y.command('status', 'Print the status of the system (same as taiat-worker --status)', (c) =>
    c.options({ ...databaseOptions, json: { type: 'boolean', default: false, describe: 'Print one JSON object' } })
      .example('$0 status --json', 'the status as JSON'),
    async (argv) => printStatus(await databaseUrlFor(argv), argv.json, argv.schema, argv.readDatabaseUrl));
}

/** The `taiat` admin command. */
export async function main(args: string[]): Promise<void> {
  // The command's own statement reports the same lost connection, as a clear error.
  surviveLostConnections(() => {});
  const cli = yargs(args)
    .scriptName('taiat')
    .usage('$0 <command> [options]')
    .options(databaseOptions)
    .strict()
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .fail((message, error, y) => {
      if (error) throw error;
      void y;
      process.stderr.write(`error [TAIAT_INVALID_INPUT]: ${message}\n`);
      process.exit(2);
    })
    .help()
    // Not in --help (whose text docs/cli.md quotes), but answered: what a user tries first.
    .version(VERSION)
    .hide('version');
  initCommand(cli);
  demoCommand(cli);
  embeddedCommand(cli);
  jobCommands(cli);
  historyCommand(cli);
  pruneCommand(cli);
  scheduleCommands(cli);
  queueCommands(cli);
  dashboardCommand(cli);
  statusCommand(cli);
  try {
    await cli.parseAsync();
  } catch (error) {
    reportError(error);
  }
}
