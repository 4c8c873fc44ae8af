// A pg-boss worker process for the benchmark, with its throughput settings: batch fetch (a
// handler gets up to PGBOSS_SETTINGS.batchSize jobs and completes them in one statement), 16
// local workers (localConcurrency, our concurrency) fetching continuously while their batches come
// back full, the LISTEN/NOTIFY wake-up (the queue is created with notify by the creator) and the
// shortest flow resolution interval (W3/W4: flow() dependents are released by a background pass,
// not at completion). 16 x 32 jobs in hand at most, like the others' local queue of 500.
// Completed jobs stay in pgboss.job: "drained" means BENCH_EXPECT executions happened and every
// job of the queue is completed. BENCH_START_ON_GO: start working at the orchestrator's `go`.
// BENCH_PGBOSS_GROUP_CONCURRENCY=N: at most N active jobs of one group across all workers
// (pg-boss's `groupConcurrency`, W8's peer).
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { executions, recordExecution, send, serve, waitForGo } from './common.mjs';

const url = process.env.BENCH_DATABASE_URL;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const expect = Number(process.env.BENCH_EXPECT ?? 0);
const drainTimeoutMs = Number(process.env.BENCH_DRAIN_TIMEOUT_MS ?? 600_000);
const QUEUE = 'noop';

export const PGBOSS_SETTINGS = {
  localConcurrency: concurrency,
  batchSize: Number(process.env.BENCH_PGBOSS_BATCH_SIZE ?? 32),
  burstWhenBatchFull: true,
  pollingIntervalSeconds: 0.5,
  // With notify on, the poll is a backstop (default 30 s); but dependents released by a flow
  // resolution are not announced: poll at the shortest interval as well.
  notifyPollingIntervalSeconds: 0.5,
  flowIntervalSeconds: 1,
  useListenNotify: true,
  max: concurrency + 2,
  ...(process.env.BENCH_PGBOSS_GROUP_CONCURRENCY ? { groupConcurrency: Number(process.env.BENCH_PGBOSS_GROUP_CONCURRENCY) } : {}),
};

let t0 = 0;
let cpu0 = process.cpuUsage();
let drainedSent = false;
const probe = new pg.Client({ connectionString: url });
await probe.connect();

async function waitUntilCompleted() {
  const deadline = performance.now() + drainTimeoutMs;
  while (performance.now() < deadline) {
    const { rows } = await probe.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state <> 'completed'`, [QUEUE]);
    if (rows[0].n === 0) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return false;
}

const boss = new PgBoss({
  connectionString: url,
  schema: 'pgboss',
  max: PGBOSS_SETTINGS.max,
  useListenNotify: PGBOSS_SETTINGS.useListenNotify,
  flowIntervalSeconds: PGBOSS_SETTINGS.flowIntervalSeconds,
  schedule: false,
});
boss.on('error', (error) => {
  process.stderr.write(`pg-boss: ${error?.stack ?? error}\n`);
  send({ type: 'worker-error', message: String(error?.message ?? error) });
});

await waitForGo();
cpu0 = process.cpuUsage();
t0 = performance.now();
await boss.start();
const { localConcurrency, batchSize, burstWhenBatchFull, pollingIntervalSeconds, notifyPollingIntervalSeconds, groupConcurrency } = PGBOSS_SETTINGS;
const workOptions = { localConcurrency, batchSize, burstWhenBatchFull, pollingIntervalSeconds, notifyPollingIntervalSeconds, ...(groupConcurrency ? { groupConcurrency } : {}) };
await boss.work(QUEUE, workOptions, async (jobs) => {
  for (const job of jobs) recordExecution(job.id, job.data?.seq);
  if (!drainedSent && expect > 0 && executions.size >= expect) {
    drainedSent = true;
    // This batch completes after the handler returns: done when every job is completed.
    setImmediate(() =>
      waitUntilCompleted().then(
        (done) => send(done ? { type: 'drained', ms: performance.now() - t0, cpu: process.cpuUsage(cpu0) } : { type: 'drain-timeout' }),
        (error) => send({ type: 'worker-error', message: String(error) }),
      ),
    );
  }
});
send({ type: 'ready', startMs: performance.now() - t0, rss: process.memoryUsage.rss(), settings: PGBOSS_SETTINGS });

serve({
  onStop: async () => {
    await boss.stop({ graceful: true, timeout: 10_000 });
    await probe.end();
  },
});
