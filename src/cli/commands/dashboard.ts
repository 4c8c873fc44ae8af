import type { Argv } from 'yargs';
import { serveDashboard } from '../../dashboard/serve.js';
import { databaseOptions, databaseUrlFor } from '../common.js';
import { createCliLogger } from '../logger.js';

const dashboardOptions = {
  host: { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (off loopback: only with TAIAT_DASHBOARD_TOKENS or TAIAT_DASHBOARD_USER/PASSWORD)' },
  'read-only': { type: 'boolean', default: false, describe: 'Show everything, allow no action' },
} as const;

/** `taiat dashboard`: serves the web dashboard and its HTTP API until SIGTERM/SIGINT. */
export function dashboardCommand(y: Argv) {
  return y.command(
    'dashboard',
    'Serve the web dashboard and its HTTP API (default http://127.0.0.1:8080/)',
    (c) => c.options({ ...databaseOptions, ...dashboardOptions, port: { type: 'number', default: 8080, describe: 'Port (0: any free one)' } })
      .example('$0 dashboard', 'open http://127.0.0.1:8080/')
      .example('TAIAT_DASHBOARD_TOKENS=... $0 dashboard --host 0.0.0.0 --read-only', 'a read-only dashboard for the team, behind a token'),
    async (argv) => {
      const logger = await createCliLogger('info');
      const server = await serveDashboard({
        databaseUrl: await databaseUrlFor(argv), schema: argv.schema, host: argv.host, port: argv.port, readOnly: argv.readOnly, logger,
        ...(argv.readDatabaseUrl ? { readDatabaseUrl: argv.readDatabaseUrl } : {}),
      });
      logger.info({ url: server.url, readOnly: argv.readOnly }, `dashboard at ${server.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    },
  );
}
