import { JobManager } from '../manager/job-manager.js';
import { agents } from '../demo/agents.js';
import { Worker } from '../worker/worker.js';
import { ansi, duration, plain, table } from '../status/format.js';
import { printStatus } from './status-command.js';

/**
 * `taiat demo`: a small dependency graph of example agents (two fetches, a join, totals, a
 * report), run to completion by an in-process worker, then the status and the history.
 */
export async function runDemo(url: string, schema?: string): Promise<void> {
  const style = process.stdout.isTTY ? ansi : plain;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const jobs = await JobManager.connect({ databaseUrl: url, schema });
  // A queue of its own per run, so leftovers of an interrupted run do not mix in.
  const run = Date.now().toString(36);
  const queue = `demo-${run}`;
  const worker = new Worker({ databaseUrl: url, schema, agents, queues: [queue], maxConcurrentJobs: 4, pollInterval: 1, retryBackoff: { base: 0.5 } });
  const started = Date.now();
  const t = () => style.dim(`+${((Date.now() - started) / 1000).toFixed(2)}s`.padStart(7));
  worker.on('job:started', (job) => say(`${t()} started   ${job.name} (attempt ${job.attempts})`));
  worker.on('job:completed', (job) => say(`${t()} ${style.green('completed')} ${job.name}`));
  worker.on('job:retried', (job, error, delay) => say(`${t()} ${style.red('failed')}    ${job.name}: ${error}; retry in ${delay.toFixed(1)}s`));
  worker.on('job:failed', (job, error) => say(`${t()} ${style.red('FAILED')}    ${job.name}: ${error}`));
  try {
    const id = (name: string) => `demo-${run}-${name}`;
    const agent = (name: string, agentName: string, dependencies: string[] = [], parameters = {}) => ({
      id: id(name), jobType: 'agent', name, queue, payload: { agent_name: agentName, parameters }, dependencies: dependencies.map(id),
    });
    say(style.bold('Creating a dependency graph of 5 jobs in one call:'));
    say('  fetch_orders ────┐');
    say('                   ├─> join ─> totals ─> report');
    say('  fetch_customers ─┘\n');
    await jobs.createJobs([
      agent('report', 'report', ['totals'], { title: 'Revenue by customer' }),
      agent('totals', 'totals', ['join']),
      agent('join', 'join', ['fetch_orders', 'fetch_customers']),
      agent('fetch_orders', 'fetch_orders'),
      agent('fetch_customers', 'fetch_customers'),
    ]);
    await worker.start();
    // Not worker.idle(): that returns while a retry waits out its backoff.
    while ((await jobs.getJob(id('report')))?.location !== 'history') await new Promise((r) => setTimeout(r, 50));
    await worker.stop();
    const report = await jobs.getJob(id('report'));
    say(`\n${style.bold('Result of report:')} ${JSON.stringify(report?.result)}\n`);
    say(style.bold('Status (taiat-worker --status):'));
    await printStatus(url, false, schema);
    const history = (await jobs.getJobHistory({ limit: 5 })).reverse();
    say(`\n${style.bold('History (newest last):')}`);
    process.stdout.write(table([
      ['job', 'status', 'attempts', 'duration'],
      ...history.map((h) => [h.name, h.status, String(h.attempts), duration(h.durationSeconds ?? 0)]),
    ]));
  } finally {
    await worker.stop();
    await jobs.close();
  }
}
