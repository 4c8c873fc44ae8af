import yargs from 'yargs';
import { parseAgentConfig, loadAgentModules } from '../worker/modules.js';
import { Worker } from '../worker/worker.js';
import { ValidationError } from '../errors.js';
import { databaseOptions, databaseUrlFor, reportError } from './common.js';
import { createCliLogger, LOG_LEVELS } from './logger.js';
import { surviveLostConnections } from './lost-connections.js';
import { translateDatabaseError } from '../db/connection.js';
import { printStatus } from './status-command.js';
import { VERSION } from '../version.js';

/** The `taiat-worker` daemon. */
export async function main(args: string[]): Promise<void> {
  const argv = await yargs(args)
    .scriptName('taiat-worker')
    .usage('$0 [options]\n\nClaims ready jobs and runs them until SIGTERM/SIGINT.')
    .options({
      ...databaseOptions,
      agents: { type: 'string', array: true, default: [] as string[], describe: 'Module exporting `agents` and/or `executors` (repeatable; default: $TAIAT_AGENT_CONFIG modules)' },
      'max-concurrent-jobs': { type: 'number', default: 4, describe: 'Jobs run at once' },
      'local-queue-size': { type: 'number', default: 0, describe: 'Jobs claimed ahead of free slots (for many short jobs)' },
      'poll-interval': { type: 'number', default: 5, describe: 'Seconds between polls when no notification arrives' },
      queues: { type: 'string', default: 'default', describe: 'Comma-separated queues to take jobs from' },
      'prune-interval-hours': { type: 'number', defaultDescription: '24', describe: 'Hours between history prunes (0: never)' },
      'cleanup-interval-hours': { type: 'number', hidden: true, describe: 'The former name of --prune-interval-hours' },
      'history-retention-days': { type: 'number', default: 30, describe: 'History older than this is pruned' },
      'shutdown-timeout': { type: 'number', default: 30, describe: 'Seconds running jobs may finish after SIGTERM' },
      'startup-timeout': { type: 'number', default: 180, describe: 'Seconds to keep trying while the database cannot be reached at start-up' },
      'run-schedules': { type: 'boolean', default: true, describe: 'Run due schedule ticks (--no-run-schedules: this worker only runs jobs)' },
      'lease-seconds': { type: 'number', default: 30, describe: 'Seconds before a silent worker\'s jobs are taken back' },
      'log-level': { choices: LOG_LEVELS, default: 'info' as const, describe: 'Log level (logs: JSON on stderr, pretty on a terminal)' },
      once: { type: 'boolean', default: false, describe: 'Exit 0 once no ready job is left' },
      status: { type: 'boolean', default: false, describe: 'Print the status of the system and exit (no worker starts)' },
      json: { type: 'boolean', default: false, describe: 'With --status: print one JSON object' },
      'metrics-port': { type: 'number', describe: 'Serve Prometheus /metrics and /healthz on this port' },
      tracing: { type: 'boolean', describe: 'Trace each attempt with OpenTelemetry (needs @opentelemetry/api and a tracer provider registered by --require/--import; default: $TAIAT_TRACING)' },
      'transaction-pooling': { type: 'boolean', describe: 'The database URL goes through a pooler in transaction mode (pgbouncer): no prepared statements, no LISTEN on it (default: $TAIAT_TRANSACTION_POOLING)' },
      'listen-database-url': { type: 'string', describe: 'A direct URL for LISTEN when the main one goes through a pooler (default: $TAIAT_LISTEN_DATABASE_URL)' },
      'dashboard-port': { type: 'number', describe: 'Also serve the web dashboard on this port' },
      'dashboard-host': { type: 'string', default: '127.0.0.1', describe: 'With --dashboard-port: the address (off loopback only with credentials, see docs/dashboard.md)' },
    })
    .example('$0 --agents ./dist/agents.js --max-concurrent-jobs 8', 'run jobs with your agents')
    .example('$0 --status --json', 'print what is pending, running, failed, and which workers are alive')
    .strict()
    .fail((message, error) => {
      if (error) throw error;
      process.stderr.write(`error [TAIAT_INVALID_INPUT]: ${message}\n`);
      process.exit(2);
    })
    .help()
    // Not in --help (whose text docs/cli.md quotes), but answered: what a user tries first.
    .version(VERSION)
    .hide('version')
    .parseAsync();

  try {
    const url = await databaseUrlFor(argv);
    if (argv.status) {
      await printStatus(url, argv.json, argv.schema, argv.readDatabaseUrl, argv.transactionPooling);
      return;
    }
    const specifiers = argv.agents.length > 0 ? argv.agents : process.env.TAIAT_AGENT_CONFIG ? parseAgentConfig(process.env.TAIAT_AGENT_CONFIG) : [];
    const modules = await loadAgentModules(specifiers);
    if (modules.executors.length === 0 && Object.keys(modules.agents).length === 0 && Object.keys(modules.schedules).length === 0) {
      // A worker that can run nothing would claim jobs only to fail them.
      throw new ValidationError('agents', 'no agents or executors: name a module with --agents, or set TAIAT_AGENT_CONFIG', 'TAIAT_CONFIG_INVALID');
    }
    const logger = await createCliLogger(argv.logLevel);
    surviveLostConnections((error) => {
      logger.warn({ err: translateDatabaseError(error, url) }, 'a database connection was lost while the driver set it up; the statement waiting for it fails on its own (postgres.js#1192)');
    });
    const worker = new Worker({
      databaseUrl: url,
      schema: argv.schema,
      ...modules,
      maxConcurrentJobs: argv.maxConcurrentJobs,
      localQueueSize: argv.localQueueSize,
      pollInterval: argv.pollInterval,
      queues: argv.queues.split(',').map((q) => q.trim()).filter(Boolean),
      pruneIntervalHours: argv.pruneIntervalHours ?? argv.cleanupIntervalHours ?? 24,
      historyRetentionDays: argv.historyRetentionDays,
      shutdownTimeout: argv.shutdownTimeout,
      startupTimeout: argv.startupTimeout,
      leaseSeconds: argv.leaseSeconds,
      runSchedules: argv.runSchedules,
      ...(argv.transactionPooling !== undefined ? { transactionPooling: argv.transactionPooling } : {}),
      ...(argv.tracing !== undefined ? { tracing: argv.tracing } : {}),
      ...(argv.listenDatabaseUrl ? { listenDatabaseUrl: argv.listenDatabaseUrl } : {}),
      logger,
    });
    // The daemon's own lines carry the worker's id too, as every line of the worker does.
    const log = logger.child({ workerId: worker.id });
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting now; leases will return the running jobs');
        process.exit(1);
      }
      log.info({ signal, shutdownTimeout: argv.shutdownTimeout }, 'shutting down gracefully');
      void worker.stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    await worker.start();
    if (argv.metricsPort !== undefined) {
      // Loaded only when metrics are served: prom-client costs every other start-up ~75 ms.
      const { createWorkerMetrics, serveMetrics } = await import('../worker/metrics.js');
      const metrics = await serveMetrics(createWorkerMetrics(worker, worker.sql, argv.maxConcurrentJobs), worker.sql, argv.metricsPort);
      log.info({ port: metrics.port }, 'serving /metrics and /healthz');
      worker.once('worker:stopped', () => void metrics.close());
    }
    if (argv.dashboardPort !== undefined) {
      const { serveDashboard } = await import('../dashboard/serve.js');
      const dashboard = await serveDashboard({
        databaseUrl: url, schema: argv.schema, host: argv.dashboardHost, port: argv.dashboardPort, logger,
        ...(argv.readDatabaseUrl ? { readDatabaseUrl: argv.readDatabaseUrl } : {}),
      });
      logger.info({ url: dashboard.url }, `dashboard at ${dashboard.url}`);
      worker.once('worker:stopped', () => void dashboard.close());
    }
    if (argv.once) {
      await worker.idle();
      await worker.stop();
    } else {
      await new Promise<void>((resolve) => worker.once('worker:stopped', resolve));
    }
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  } catch (error) {
    reportError(error);
  }
  // Agent modules may hold handles (pools, timers) that would keep the process alive.
  process.exit(process.exitCode ?? 0);
}
