import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Sql } from '../db/connection.js';
import type { Job } from '../jobs/model.js';
import { resolveSchema } from '../config/schema-name.js';
import { databaseAnswers, readQueueCounts, schemaNames } from '../store/index.js';
import type { Worker } from './worker.js';

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Prometheus metrics of one worker (prom-client), fed by its events, plus gauges of the queue
 * read from the database at scrape time (from the worker's schema, unless `options.schema`
 * names another). `/metrics` serves them; `/healthz` answers 200 while the database answers and
 * 503 when it does not.
 */
export function createWorkerMetrics(worker: Worker, sql: Sql, maxConcurrentJobs: number, options: { schema?: string } = {}): Registry {
  const t = schemaNames(options.schema === undefined ? worker.schema : resolveSchema(options.schema));
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
    name: 'taiat_job_wait_seconds', help: 'Time from run_at (ready) to the start of an attempt', labelNames, registers: [registry],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300],
  });
  const started = new Map<string, number>();
  const labels = (job: Job) => ({ queue: job.queue, job_type: job.jobType });
  const finish = (job: Job) => {
    const t = started.get(job.id);
    started.delete(job.id);
    if (t !== undefined) runDuration.observe(labels(job), (performance.now() - t) / 1000);
  };
  worker.on('job:started', (job) => {
    started.set(job.id, performance.now());
    claimed.inc(labels(job));
    if (job.startedAt) wait.observe(labels(job), Math.max(0, (job.startedAt.getTime() - job.runAt.getTime()) / 1000));
  });
  worker.on('job:completed', (job) => (finish(job), completed.inc(labels(job))));
  worker.on('job:failed', (job) => (finish(job), failed.inc(labels(job))));
  worker.on('job:retried', (job) => (finish(job), retried.inc(labels(job))));
  worker.on('job:cancelled', (job) => (finish(job), cancelled.inc(labels(job))));
  worker.on('job:recovered', (_id, outcome) => recovered.inc({ outcome }));

  const queueGauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['queue'], registers: [registry] });
  const ready = queueGauge('taiat_jobs_ready', 'Pending jobs ready to run');
  const blocked = queueGauge('taiat_jobs_blocked', 'Pending jobs waiting for dependencies');
  const running = queueGauge('taiat_jobs_running', 'Running jobs (all workers)');
  new Gauge({
    name: 'taiat_worker_free_slots', help: 'Free job slots of this worker', registers: [registry],
    collect() {
      this.set(maxConcurrentJobs - worker.runningCount);
    },
  });
  new Gauge({
    name: 'taiat_queue_scrape_ok', help: '1 when the queue gauges could be read from the database', registers: [registry],
    async collect() {
      try {
        const byQueue = new Map<string, { ready: number; blocked: number; running: number }>();
        for (const c of await readQueueCounts(sql, t)) {
          const q = byQueue.get(c.queue) ?? { ready: 0, blocked: 0, running: 0 };
          byQueue.set(c.queue, { ready: q.ready + c.ready, blocked: q.blocked + c.blocked, running: q.running + c.running });
        }
        ready.reset();
        blocked.reset();
        running.reset();
        for (const [queue, q] of byQueue) {
          ready.set({ queue }, q.ready);
          blocked.set({ queue }, q.blocked);
          running.set({ queue }, q.running);
        }
        this.set(1);
      } catch {
        this.set(0);
      }
    },
  });
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
