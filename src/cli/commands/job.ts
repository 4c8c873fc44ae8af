import { progressText } from '../../jobs/progress.js';
import type { Argv } from 'yargs';
import { JobNotFoundError, ValidationError } from '../../errors.js';
import type { Job } from '../../jobs/model.js';
import type { NewJob } from '../../jobs/validation.js';
import type { Explanation } from '../../store/explain.js';
import { HISTORY_PARTITION_PERIODS, type HistoryPartitionPeriod } from '../../store/index.js';
import { duration, table } from '../../status/format.js';
import { databaseOptions, jsonOption, printJson, withManager } from '../common.js';
import { jsonArgument } from './json-argument.js';

const when = (d: Date | null) => (d ? d.toISOString() : '-');

function jobRows(jobs: Job[]): string {
  return table([
    ['id', 'name', 'type', 'status', 'queue', 'priority', 'attempts', 'created'],
    ...jobs.map((j) => [j.id, j.name, j.jobType, j.status, j.queue, String(j.priority), String(j.attempts), when(j.createdAt)]),
  ], '');
}

function jobDetails(job: Job): string {
  const rows: [string, string][] = [
    ['id', job.id], ['name', job.name], ['type', job.jobType], ['status', job.status], ['queue', job.queue],
    ['priority', String(job.priority)], ['dependencies', job.dependencies.join(', ') || '-'],
    ['attempts', `${job.attempts} (retries ${job.retryCount} of ${job.maxRetries})`], ['run at', when(job.runAt)],
    ['created', when(job.createdAt)], ['started', when(job.startedAt)], ['completed', when(job.completedAt)],
    ['duration', job.durationSeconds === null ? '-' : duration(job.durationSeconds)], ['worker', job.workerId ?? '-'],
    ['error', job.errorMessage ?? '-'], ['payload', JSON.stringify(job.payload)], ['result', JSON.stringify(job.result)],
  ];
  if (job.description) rows.splice(2, 0, ['description', job.description]);
  if (job.parentId) rows.push(['parent', job.parentId]);
  if (job.uniqueKey) rows.push(['unique key', job.uniqueKey]);
  if (job.concurrencyKey) rows.push(['concurrency key', job.concurrencyKey]);
  if (job.scheduleId) rows.push(['schedule', `${job.scheduleId} (tick ${when(job.scheduleTick)})`]);
  if (job.causeJobId) rows.push(['cause', job.causeJobId]);
  if (job.progress) rows.push([job.status === 'running' ? 'progress' : 'last progress', progressText(job.progress)]);
  if (job.traceContext) rows.push(['trace context', job.traceContext]);
  for (const e of job.attemptErrors) rows.push([`attempt ${e.attempt}`, `${e.error} (${e.at.toISOString()}, ${e.workerId ?? '-'})`]);
  return table(rows, '');
}

function explanationText(e: Explanation): string {
  let out = `${e.job.id} (${e.job.name}): ${e.summary}\n`;
  if (e.job.concurrencyKey !== null) out += `concurrency key: ${e.job.concurrencyKey}\n`;
  if (e.waitingOn.length) out += `\nwaiting on:\n${table(e.waitingOn.map((r) => [r.id, r.name, r.state]))}`;
  if (e.rootCauses.length) out += `\nmust finish first (root causes):\n${table(e.rootCauses.map((r) => [r.id, r.name, r.state]))}`;
  if (e.cause) out += `\ncaused by: ${e.cause.id} (${e.cause.name}, ${e.cause.state})\n`;
  return out;
}

const idArg = { type: 'string', demandOption: true, describe: 'Job id' } as const;

/** `taiat job ...`: create, create-many, list, get, explain, cancel, retry. */
export function jobCommands(y: Argv) {
  return y.command('job <command>', 'Create, inspect, cancel and retry jobs', (job) =>
    job
      .command('create', 'Create one job', (c) =>
        c.options({
          ...databaseOptions, ...jsonOption,
          type: { type: 'string', demandOption: true, describe: 'Job type: agent, or a type a custom executor runs (e.g. query)' },
          name: { type: 'string', demandOption: true, describe: 'Job name' },
          description: { type: 'string' },
          payload: { type: 'string', describe: 'JSON object, or @file.json' },
          dependencies: { type: 'string', describe: 'Comma-separated job ids' },
          priority: { type: 'string', describe: 'low, normal, high, urgent, or an integer' },
          'max-retries': { type: 'number' },
          queue: { type: 'string' },
          'run-at': { type: 'string', describe: 'ISO 8601 time before which it must not run' },
          id: { type: 'string', describe: 'Job id (default: a new UUIDv7)' },
          'timeout-seconds': { type: 'number' },
          'retry-delay-seconds': { type: 'number', describe: 'Base of the retry backoff' },
          'unique-key': { type: 'string', describe: 'A key no two jobs hold at once: a job holding it is returned instead' },
          'unique-while': { choices: ['pending', 'active', 'period'] as const, describe: 'How long the key is held (default pending)' },
          'unique-period-seconds': { type: 'number', describe: 'With --unique-while period: seconds the key is held' },
          'unique-mode': { choices: ['keep', 'replace'] as const, describe: 'replace: a pending holder takes this payload and run time' },
          'concurrency-key': { type: 'string', describe: 'Who the job runs for (a tenant id, say): its queue\'s per-key limits apply' },
        }).example(`$0 job create --type agent --name nightly --payload '{"agent_name":"report"}' --priority high`, 'create an agent job'),
        (argv) => withManager(argv, async (jobs) => {
          const priority = argv.priority === undefined ? undefined : /^-?\d+$/.test(argv.priority) ? Number(argv.priority) : argv.priority;
          const input: Record<string, unknown> = {
            jobType: argv.type, name: argv.name, description: argv.description,
            payload: argv.payload === undefined ? undefined : await jsonArgument('payload', argv.payload),
            dependencies: argv.dependencies?.split(',').map((d) => d.trim()).filter(Boolean),
            priority, maxRetries: argv.maxRetries, queue: argv.queue, runAt: argv.runAt, id: argv.id,
            timeoutSeconds: argv.timeoutSeconds, retryDelaySeconds: argv.retryDelaySeconds, uniqueKey: argv.uniqueKey,
            uniqueWhile: argv.uniqueWhile, uniquePeriodSeconds: argv.uniquePeriodSeconds, uniqueMode: argv.uniqueMode,
            concurrencyKey: argv.concurrencyKey,
          };
          for (const k of Object.keys(input)) if (input[k] === undefined) delete input[k];
          const created = await jobs.createJob(input as unknown as NewJob);
          if (argv.json) printJson(created);
          else process.stdout.write(created.deduplicated ? `not created: job ${created.id} holds key ${created.uniqueKey}\n` : `created ${created.id}\n`);
        }))
      .command('create-many <file>', 'Create a graph of jobs from a JSON array (all or nothing)', (c) =>
        c.options({ ...databaseOptions, ...jsonOption }).positional('file', { type: 'string', demandOption: true, describe: 'JSON file: an array of jobs as createJobs takes them' })
          .example('$0 job create-many graph.json', 'create every job of graph.json in one transaction'),
        (argv) => withManager(argv, async (jobs) => {
          const list = await jsonArgument('file', `@${argv.file}`);
          if (!Array.isArray(list)) throw new ValidationError('file', 'must hold a JSON array of jobs');
          if (process.stderr.isTTY) process.stderr.write(`creating ${list.length} jobs...`);
          const created = await jobs.createJobs(list as NewJob[]);
          if (process.stderr.isTTY) process.stderr.write(' done\n');
          if (argv.json) printJson(created.map((j) => j.id));
          else process.stdout.write(`created ${created.length} jobs\n`);
        }))
      .command('list', 'List jobs, newest first', (c) =>
        c.options({
          ...databaseOptions, ...jsonOption,
          status: { type: 'string', describe: 'pending, running, completed, failed or cancelled' },
          'ready-only': { type: 'boolean', default: false, describe: 'Only jobs ready to run, in claim order' },
          queue: { type: 'string' },
          limit: { type: 'number', default: 100 },
        }).example('$0 job list --ready-only --limit 20', 'the next 20 jobs a worker would claim'),
        (argv) => withManager(argv, async (jobs) => {
          const list = await jobs.listJobs({
            ...(argv.status ? { status: argv.status as Job['status'] } : {}), readyOnly: argv.readyOnly,
            ...(argv.queue ? { queue: argv.queue } : {}), limit: argv.limit,
          });
          if (argv.json) printJson(list);
          else process.stdout.write(jobRows(list));
        }))
      .command('get <id>', 'Show one job, live or finished', (c) =>
        c.options({ ...databaseOptions, ...jsonOption }).positional('id', idArg).example('$0 job get 0193b2...', 'show a job'),
        (argv) => withManager(argv, async (jobs) => {
          const found = await jobs.getJob(argv.id);
          if (!found) throw new JobNotFoundError(argv.id);
          if (argv.json) printJson(found);
          else process.stdout.write(jobDetails(found));
        }))
      .command('explain <id>', 'Say why a job is not running (or how it ended)', (c) =>
        c.options({ ...databaseOptions, ...jsonOption }).positional('id', idArg).example('$0 job explain 0193b2...', 'what is this job waiting for?'),
        (argv) => withManager(argv, async (jobs) => {
          const e = await jobs.explain(argv.id);
          if (!e) throw new JobNotFoundError(argv.id);
          if (argv.json) printJson(e);
          else process.stdout.write(explanationText(e));
        }))
      .command('cancel <id>', 'Cancel a pending job (and its dependents) or ask a running one to stop', (c) =>
        c.options({ ...databaseOptions, ...jsonOption }).positional('id', idArg).example('$0 job cancel 0193b2...', 'cancel a job'),
        (argv) => withManager(argv, async (jobs) => {
          const job = await jobs.cancelJob(argv.id);
          if (argv.json) printJson(job);
          else process.stdout.write(job.status === 'running' ? `cancellation requested: ${job.id} is running; its worker aborts it\n` : `cancelled ${job.id}\n`);
        }))
      .command('retry <id>', 'Put a failed or cancelled job back to pending', (c) =>
        c.options({ ...databaseOptions, ...jsonOption, dependents: { type: 'boolean', default: false, describe: 'Also bring back the jobs its failure cancelled' } })
          .positional('id', idArg).example('$0 job retry 0193b2... --dependents', 'retry a job and everything its failure cancelled'),
        (argv) => withManager(argv, async (jobs) => {
          const job = await jobs.retryJob(argv.id, { dependents: argv.dependents });
          if (argv.json) printJson(job);
          else process.stdout.write(`${job.id} is pending again\n`);
        }))
      .demandCommand(1, 'name a job command (see taiat job --help)'),
  );
}

/** `taiat history`: finished jobs, most recent first. */
export function historyCommand(y: Argv) {
  return y.command('history', 'List finished jobs, most recently finished first', (c) =>
    c.options({
      ...databaseOptions, ...jsonOption,
      status: { type: 'string', describe: 'completed, failed or cancelled' },
      limit: { type: 'number', default: 100 },
      since: { type: 'string', describe: 'Only jobs finished at or after this ISO 8601 time' },
    }).example('$0 history --status failed --since 2026-01-01', 'failures since New Year')
      .command('partition', 'Partition history by finish time (pruning then drops whole partitions)', (p) =>
        p.options({ ...databaseOptions, ...jsonOption, period: { type: 'string', choices: HISTORY_PARTITION_PERIODS, demandOption: true, describe: 'One partition per period' } })
          .example('$0 history partition --period day', 'one partition per day; see docs/operations.md'),
      (argv) => withManager(argv, async (jobs) => {
        const done = await jobs.partitionHistory({ period: argv.period as HistoryPartitionPeriod });
        if (argv.json) printJson(done);
        else process.stdout.write(`history ${done.converted ? 'partitioned' : 'was partitioned already'} by ${done.period}; created ${done.created.length} partition(s)\n`);
      })),
    (argv) => withManager(argv, async (jobs) => {
      const list = await jobs.getJobHistory({
        ...(argv.status ? { status: argv.status as 'completed' } : {}), limit: argv.limit, ...(argv.since ? { since: argv.since } : {}),
      });
      if (argv.json) printJson(list);
      else process.stdout.write(table([
        ['id', 'name', 'status', 'attempts', 'duration', 'finished', 'error'],
        ...list.map((j) => [j.id, j.name, j.status, String(j.attempts), j.durationSeconds === null ? '-' : duration(j.durationSeconds), when(j.completedAt), j.errorMessage ?? '']),
      ], ''));
    }));
}

/** `taiat prune --days N`. */
export function pruneCommand(y: Argv) {
  return y.command('prune', 'Delete history older than N days, in batches', (c) =>
    c.options({ ...databaseOptions, ...jsonOption, days: { type: 'number', demandOption: true, describe: 'Keep this many days of history' } })
      .example('$0 prune --days 30', 'delete history finished more than 30 days ago'),
    (argv) => withManager(argv, async (jobs) => {
      const deleted = await jobs.pruneHistory({ days: argv.days, ...(process.stderr.isTTY ? { onProgress: (n: number) => process.stderr.write(`\rdeleted ${n}...`) } : {}) });
      if (process.stderr.isTTY) process.stderr.write('\r');
      if (argv.json) printJson({ deleted });
      else process.stdout.write(`deleted ${deleted} history row(s)\n`);
    }));
}
