// A graphile-worker process for the benchmark, with the settings its performance docs use for
// throughput (https://worker.graphile.org/docs/performance): a local queue, batched completion
// and failure, and an explicit poll interval. Completed jobs are deleted by graphile-worker, so
// "drained" means: BENCH_EXPECT executions happened and no job row is left.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Logger, run } from 'graphile-worker';
import { executions, recordExecution, send, serve, waitForGo } from './common.mjs';

const url = process.env.BENCH_DATABASE_URL;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const expect = Number(process.env.BENCH_EXPECT ?? 0);
const drainTimeoutMs = Number(process.env.BENCH_DRAIN_TIMEOUT_MS ?? 600_000);

export const GRAPHILE_SETTINGS = {
  concurrentJobs: concurrency,
  maxPoolSize: concurrency + 1,
  pollInterval: 2000,
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};

const logger = new Logger(() => (level, message) => {
  if (level === 'error') {
    process.stderr.write(`graphile-worker: ${message}\n`);
    send({ type: 'worker-error', message });
  }
});

let failed = 0;
let t0 = 0;
let cpu0 = process.cpuUsage();
let drainedSent = false;
const probe = new pg.Client({ connectionString: url });
await probe.connect();

async function waitUntilEmpty() {
  const deadline = performance.now() + drainTimeoutMs;
  while (performance.now() < deadline) {
    const { rows } = await probe.query('SELECT count(*)::int AS n FROM graphile_worker.jobs');
    if (rows[0].n === 0) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return false;
}

const taskList = {
  noop: async (payload, helpers) => {
    recordExecution(String(helpers.job.id), payload?.seq);
    if (!drainedSent && expect > 0 && executions.size >= expect) {
      drainedSent = true;
      // The last completions are still being batched: done when the table is empty.
      setImmediate(() =>
        waitUntilEmpty().then(
          (empty) => send(empty ? { type: 'drained', ms: performance.now() - t0, cpu: process.cpuUsage(cpu0) } : { type: 'drain-timeout' }),
          (error) => send({ type: 'worker-error', message: String(error) }),
        ),
      );
    }
  },
};

await waitForGo();
cpu0 = process.cpuUsage();
t0 = performance.now();
const runner = await run({
  taskList,
  noHandleSignals: true,
  logger,
  preset: { worker: { connectionString: url, ...GRAPHILE_SETTINGS } },
});
for (const event of ['job:error', 'job:failed']) {
  runner.events.on(event, ({ job, error }) => {
    failed += 1;
    send({ type: 'job-failed', id: String(job.id), error: `${event}: ${String(error?.message ?? error)}` });
  });
}
// Database fetches answered, and those that found nothing (the multi-process workload, WP): the
// local queue's batch fetches (a worker's `worker:getJob:empty` is the local queue, in memory).
let claims = 0;
let emptyClaims = 0;
runner.events.on('localQueue:getJobs:complete', ({ jobs }) => {
  claims += 1;
  if (jobs.length === 0) emptyClaims += 1;
});
send({ type: 'ready', startMs: performance.now() - t0, rss: process.memoryUsage.rss(), settings: GRAPHILE_SETTINGS });

serve({
  onStop: async () => {
    await runner.stop();
    await probe.end();
  },
  extraReport: () => ({ failed, claims, emptyClaims }),
});
