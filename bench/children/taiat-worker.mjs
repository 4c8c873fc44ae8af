// A taiat worker process for the benchmark: the built library (dist/), one Worker with a no-op
// agent. Reports over IPC: `ready` once started, `drained` when BENCH_EXPECT jobs completed
// (the Worker emits job:completed after the outcome's transaction committed, i.e. once the job
// is in taiat_job_history), then its execution counts and memory on request. The `sleep` agent
// (W9) sleeps `parameters.ms` and keeps each run's start and end (wall clock, ms) for the report.
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { now, recordExecution, send, serve, waitForGo } from './common.mjs';

// BENCH_TAIAT_DIST: another build's dist/index.js (`--against`: two builds drain side by side).
const { Worker } = await import(process.env.BENCH_TAIAT_DIST ? pathToFileURL(process.env.BENCH_TAIAT_DIST).href : '../../dist/index.js');
const url = process.env.BENCH_DATABASE_URL;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const expect = Number(process.env.BENCH_EXPECT ?? 0);
// Self-test of the checks: BENCH_FAULT=duplicate counts the first execution twice.
let fault = process.env.BENCH_FAULT === 'duplicate';
/** The sleep agent's runs: [job id, start, end]. */
const spans = [];

// BENCH_TRACING=1: tracing on, every span made and batched to an exporter that drops it (the cost
// of making them, issue 23), with the async context an application's SDK would register;
// BENCH_TRACING=0.1: the same, sampling a tenth of the traces (the SDK's ratio sampler).
const tracing = Number(process.env.BENCH_TRACING ?? 0) > 0;
if (tracing) {
  const [{ context, trace }, { AsyncLocalStorageContextManager }, sdk] = await Promise.all([
    import('@opentelemetry/api'), import('@opentelemetry/context-async-hooks'), import('@opentelemetry/sdk-trace-base'),
  ]);
  const dropAll = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  const ratio = Number(process.env.BENCH_TRACING);
  trace.setGlobalTracerProvider(new sdk.BasicTracerProvider({
    // BENCH_TRACING_PROCESSOR=simple: each span handed to the exporter as it ends, none held in a batch.
    spanProcessors: [process.env.BENCH_TRACING_PROCESSOR === 'simple' ? new sdk.SimpleSpanProcessor(dropAll) : new sdk.BatchSpanProcessor(dropAll)],
    ...(ratio < 1 ? { sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio) }) } : {}),
  }));
  // BENCH_TRACING_CONTEXT=none: no async context manager (spans still nest by explicit parents).
  if (process.env.BENCH_TRACING_CONTEXT !== 'none') context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

const worker = new Worker({
  // Only when on: builds from before tracing (`--against` an older ref) refuse the option.
  ...(tracing ? { tracing } : {}),
  databaseUrl: url,
  maxConcurrentJobs: concurrency,
  // The throughput setting, like graphile-worker's localQueue below: claim ahead of free slots.
  localQueueSize: Number(process.env.BENCH_LOCAL_QUEUE ?? 500),
  ...(process.env.BENCH_POLL_INTERVAL ? { pollInterval: Number(process.env.BENCH_POLL_INTERVAL) } : {}),
  ...(process.env.BENCH_COMPLETION_BATCH ? { completionBatchSize: Number(process.env.BENCH_COMPLETION_BATCH) } : {}),
  agents: {
    noop(parameters, ctx) {
      recordExecution(ctx.job.id, parameters.seq);
      if (fault) {
        fault = false;
        recordExecution(ctx.job.id);
      }
      return null;
    },
    async sleep(parameters, ctx) {
      const start = now();
      recordExecution(ctx.job.id);
      await delay(parameters.ms);
      spans.push([ctx.job.id, start, now()]);
      return null;
    },
  },
});

let completed = 0;
let failed = 0;
let retried = 0;
let t0 = 0;
let cpu0 = process.cpuUsage();
worker.on('job:completed', () => {
  completed += 1;
  if (completed === expect) send({ type: 'drained', ms: performance.now() - t0, completed, cpu: process.cpuUsage(cpu0) });
});
worker.on('job:failed', (job, error) => {
  failed += 1;
  send({ type: 'job-failed', id: job.id, error });
});
worker.on('job:retried', (job, error) => {
  retried += 1;
  send({ type: 'job-failed', id: job.id, error: `retried: ${error}` });
});
// Claims answered, and those that found nothing (the multi-process workload, WP).
let claims = 0;
let emptyClaims = 0;
worker.on('worker:claimed', (jobs) => {
  claims += 1;
  if (jobs === 0) emptyClaims += 1;
});
worker.on('worker:error', (error) => send({ type: 'worker-error', message: String(error?.message ?? error) }));

serve({ onStop: () => worker.stop(), extraReport: () => ({ completed, failed, retried, pid: process.pid, spans, claims, emptyClaims }) });

await waitForGo();
cpu0 = process.cpuUsage();
t0 = performance.now();
await worker.start();
send({ type: 'ready', startMs: performance.now() - t0, rss: process.memoryUsage.rss() });
