import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Sql } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import { resolveSchema } from '../config/schema-name.js';
import {
  countWorkers, databaseAnswers, readFlowControlStates, readOldestReadyWaits, readQueueCounts, schemaNames, type HeldBack,
} from '../store/index.js';
import { withDeadline } from './timers.js';
import type { Worker } from './worker.js';

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * How long a scrape waits for the database gauges, by default. Well inside Prometheus's default
 * 10 s scrape timeout: a slow or unreachable database must cost the scrape its queue gauges
 * (their last values, with `taiat_queue_scrape_ok 0`), not the whole scrape (the counters too).
 */
export const DATABASE_READ_DEADLINE_MS = 2000;

/**
 * A read still pending this long is given up, and the next scrape starts another. postgres.js can
 * leave a statement pending for ever after its connection was lost: without this, the gauges would
 * never be read again. Long enough that a merely slow database is not sent a second read.
 */
const ABANDON_READ_AFTER_MS = 30_000;

export interface WorkerMetricsOptions {
  /** The schema whose queue the gauges describe (default: the worker's). */
  schema?: string;
  /** How long a scrape waits for the database gauges, in ms (default `DATABASE_READ_DEADLINE_MS`). */
  readDeadlineMs?: number;
}

/**
 * Prometheus metrics of one worker (prom-client), fed by its events, plus gauges of the queue
 * read from the database when created and at each scrape (from the worker's schema, unless
 * `options.schema` names another). A scrape waits at most `options.readDeadlineMs` for them; a
 * read that fails or is late leaves their last values and sets `taiat_queue_scrape_ok` to 0.
 * `/metrics` serves them; `/healthz` answers 200 while the database answers and 503 when it does not.
 */
export function createWorkerMetrics(worker: Worker, sql: Sql, maxConcurrentJobs: number, options: WorkerMetricsOptions = {}): Registry {
  const t = schemaNames(options.schema === undefined ? worker.schema : resolveSchema(options.schema));
  const deadlineMs = options.readDeadlineMs ?? DATABASE_READ_DEADLINE_MS;
  const registry = new Registry();
  const labelNames = ['queue', 'job_type'] as const;
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [registry] });
  const claimed = counter('taiat_jobs_claimed_total', 'Jobs claimed by this worker');
  const completed = counter('taiat_jobs_completed_total', 'Jobs this worker completed');
  const failed = counter('taiat_jobs_failed_total', 'Jobs that failed for good on this worker');
  const retried = counter('taiat_jobs_retried_total', 'Failed attempts scheduled for a retry');
  const cancelled = counter('taiat_jobs_cancelled_total', 'Running jobs cancelled on this worker');
  const recovered = new Counter({ name: 'taiat_jobs_recovered_total', help: 'Jobs of lost workers taken back by this worker', labelNames: ['outcome'], registers: [registry] });
  const runDuration = new Histogram({
    name: 'taiat_job_run_duration_seconds', help: 'Run time of attempts', labelNames, registers: [registry],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
  });
  const wait = new Histogram({
    name: 'taiat_job_wait_seconds', help: 'Time from when the job became ready (run_at, or its last dependency\'s completion if later) to the start of an attempt', labelNames, registers: [registry],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300],
  });
  const started = new Map<string, number>();
  const labels = (job: Job) => ({ queue: job.queue, job_type: job.jobType });
  const finish = (job: Job) => {
    const t = started.get(job.id);
    started.delete(job.id);
    if (t !== undefined) runDuration.observe(labels(job), (performance.now() - t) / 1000);
  };
  worker.on('job:started', (job, readyAt) => {
    started.set(job.id, performance.now());
    claimed.inc(labels(job));
    if (job.startedAt) wait.observe(labels(job), Math.max(0, (job.startedAt.getTime() - readyAt.getTime()) / 1000));
  });
  worker.on('job:completed', (job) => (finish(job), completed.inc(labels(job))));
  worker.on('job:failed', (job) => (finish(job), failed.inc(labels(job))));
  worker.on('job:retried', (job) => (finish(job), retried.inc(labels(job))));
  worker.on('job:cancelled', (job) => (finish(job), cancelled.inc(labels(job))));
  worker.on('job:recovered', (_id, outcome) => recovered.inc({ outcome }));

  // The gauges read from the database share one wait per scrape, which each gauge's collect
  // awaits (prom-client collects all metrics at once), so all are served as of the same read.
  // One read at a time: a scrape that finds one in flight, a late one included, waits for it
  // rather than piling another onto a struggling database.
  let reading: Promise<void> | null = null;
  let generation = 0;
  let waiting: Promise<void> | null = null;
  const startRead = () => {
    const mine = ++generation;
    // A read given up on must not overwrite the gauges of a later one when it returns at last.
    const read = fetchDatabaseGauges().then((results) => {
      if (mine === generation) applyDatabaseGauges(results);
    });
    const tracked: Promise<void> = withDeadline(read, ABANDON_READ_AFTER_MS, 'the metrics read')
      .catch(() => scrapeOk.set(0))
      .finally(() => {
        if (reading === tracked) reading = null;
      });
    return (reading = tracked);
  };
  const refresh = () => (waiting ??= (async () => {
    await withDeadline(reading ?? startRead(), deadlineMs, 'the metrics read').catch(() => scrapeOk.set(0));
  })().finally(() => (waiting = null)));
  const dbGauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect: refresh });
  const ready = dbGauge('taiat_jobs_ready', 'Pending jobs ready to run', ['queue']);
  const blocked = dbGauge('taiat_jobs_blocked', 'Pending jobs waiting for dependencies', ['queue']);
  const scheduled = dbGauge('taiat_jobs_scheduled', 'Pending jobs whose run time has not come (a retry\'s backoff, runAt)', ['queue']);
  const running = dbGauge('taiat_jobs_running', 'Running jobs (all workers)', ['queue']);
  const paused = dbGauge('taiat_queue_paused', '1 when the queue is paused, else 0 (queues with live jobs or flow control)', ['queue']);
  const heldBack = dbGauge('taiat_jobs_held_back', 'Ready jobs held back by flow control, by the first reason that holds them', ['queue', 'reason']);
  const oldestWait = dbGauge('taiat_queue_oldest_ready_wait_seconds', 'Seconds the queue\'s longest-waiting ready job has been ready: since its run time, or its release by its last dependency if later (0: none ready)', ['queue']);
  const liveWorkers = dbGauge('taiat_workers_live', 'Workers that record heartbeats (all workers)', []);
  const lostWorkers = dbGauge('taiat_workers_lost', 'Workers that missed three heartbeats and did not stop (all workers)', []);
  const scrapeOk = dbGauge('taiat_queue_scrape_ok', '1 when this scrape read the queue gauges from the database; 0 when the read failed or missed its deadline (they keep their last values)', []);
  new Gauge({ name: 'taiat_worker_slots', help: 'Job slots of this worker (maxConcurrentJobs)', registers: [registry] }).set(maxConcurrentJobs);
  new Gauge({
    name: 'taiat_worker_free_slots', help: 'Free job slots of this worker', registers: [registry],
    collect() {
      this.set(maxConcurrentJobs - worker.runningCount);
    },
  });
  const REASONS: [keyof HeldBack, string][] = [['paused', 'paused'], ['queueLimit', 'queue_limit'], ['rateLimit', 'rate_limit'], ['keyLimit', 'key_limit']];
  function fetchDatabaseGauges() {
    return Promise.allSettled([readQueueCounts(sql, t), readFlowControlStates(sql, t), readOldestReadyWaits(sql, t), countWorkers(sql, t)] as const);
  }
  function applyDatabaseGauges([counts, flow, oldest, workers]: Awaited<ReturnType<typeof fetchDatabaseGauges>>): void {
    // Each read sets its gauges when it succeeds; a failed one leaves them as they were.
    if (counts.status === 'fulfilled') {
      const byQueue = new Map<string, { ready: number; blocked: number; scheduled: number; running: number }>();
      for (const c of counts.value) {
        const q = byQueue.get(c.queue) ?? { ready: 0, blocked: 0, scheduled: 0, running: 0 };
        byQueue.set(c.queue, { ready: q.ready + c.ready, blocked: q.blocked + c.blocked, scheduled: q.scheduled + c.scheduled, running: q.running + c.running });
      }
      for (const g of [ready, blocked, scheduled, running]) g.reset();
      for (const [queue, q] of byQueue) {
        ready.set({ queue }, q.ready);
        blocked.set({ queue }, q.blocked);
        scheduled.set({ queue }, q.scheduled);
        running.set({ queue }, q.running);
      }
      if (oldest.status === 'fulfilled') {
        oldestWait.reset();
        for (const queue of byQueue.keys()) oldestWait.set({ queue }, 0);
        for (const o of oldest.value) oldestWait.set({ queue: o.queue }, Math.max(0, o.seconds));
      }
      if (flow.status === 'fulfilled') {
        paused.reset();
        for (const queue of byQueue.keys()) paused.set({ queue }, 0);
      }
    }
    if (flow.status === 'fulfilled') {
      heldBack.reset();
      for (const q of flow.value) {
        paused.set({ queue: q.name }, q.paused ? 1 : 0);
        for (const [field, reason] of REASONS) heldBack.set({ queue: q.name, reason }, q.heldBack[field]);
      }
    }
    if (workers.status === 'fulfilled') {
      liveWorkers.set(workers.value.live);
      lostWorkers.set(workers.value.lost);
    }
    scrapeOk.set([counts, flow, oldest, workers].every((r) => r.status === 'fulfilled') ? 1 : 0);
  }
  // Read once now, while the worker has just reached the database: a first scrape during an
  // outage then serves the values of this read, not empty gauges.
  startRead();
  return registry;
}

/** Serves `/metrics` and `/healthz` on `port` (0: a free port chosen by the system). */
export async function serveMetrics(registry: Registry, sql: Sql, port: number, host = '0.0.0.0'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
      } else if (req.url === '/healthz') {
        const ok = await databaseAnswers(sql);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ok ? 'ok\n' : 'database unreachable\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found: try /metrics or /healthz\n');
      }
    })().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
