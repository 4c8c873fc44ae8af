/**
 * taiat soak test: `npm run soak` (600 s; SOAK_SECONDS or --seconds N), `npm run soak:ci` (60 s,
 * the job mix and the schedules) and `npm run soak:schedules` (60 s, the schedules alone).
 *
 * Runs 3-4 `taiat-worker` processes (soak/agents.mjs) against a Postgres of its own, feeds them a
 * seeded random mix of job graphs and/or 200 schedules ticking every second for N seconds while
 * injecting faults (kill -9 and SIGTERM of a worker, Postgres restarts in fast and immediate mode,
 * pg_terminate_backend of a worker connection; with the schedules, every worker down for a few
 * seconds), pauses the schedules, drains, stops the workers, then checks taiat's invariants
 * against the runs the agents recorded on their own. Exit status 0 only when no invariant was violated.
 *
 * Env: SOAK_SEED (replay a run's decisions: workload and fault schedule; timing still varies),
 * SOAK_SECONDS, TAIAT_SOAK_DATABASE_URL (use that database instead of an embedded Postgres:
 * Postgres restarts are then skipped; give it a database of its own), SOAK_KEEP=1 (keep the
 * embedded cluster's folder), SOAK_DRAIN_SECONDS (bound of the final drain, default 180), SOAK_OUTAGE=1
 * (also inject Postgres outages longer than the lease). Flags: --seconds N, --seed N, --workers N,
 * --keep, --outage, --schedules (the schedules scenario alone), --with-schedules (beside the mix).
 * Output: a summary on stdout, soak/results/latest.json, and soak/results/runs/<time>-seed<N>/ (worker logs,
 * the agents' run journals of the last run).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { killAllChildren, shutdownOnSignalsAndCrashes } from '../bench/lib/processes.js';
import { writeJson } from '../bench/lib/report.js';
import { sleep } from '../bench/lib/time.js';
import { log, wallMs, withTimeout } from './clock.js';
import { analyse } from './analysis.js';
import {
  CONCURRENCY, DRAIN_TIMEOUT_MS, KEEP, KEEP_IF_FAILED, KEEP_RUNS, MIX, OUTAGE, QUEUES, RESULTS_DIR, ROOT, RUNS_DIR, SCHEDULES, SECONDS, SEED, WORKERS,
} from './config.js';
import { closeDatabase, db, openDatabase } from './database.js';
import { describe, untilReachable } from './db-errors.js';
import { creationLoop } from './driver.js';
import { faultLoop } from './faults.js';
import { printSummary } from './report.js';
import { declareSchedules, pauseSchedules, SCHEDULE_COUNT } from './schedules.js';
import { background, created, faults, finding, liveProcs, procs, run, violation } from './state.js';
import { spawnWorker, stopWorker } from './workers.js';

// SOAK_KEEP=failed keeps the cluster once the summary says the run failed.
let keep = KEEP;
let shuttingDown = false;
async function cleanup(): Promise<void> {
  killAllChildren();
  await closeDatabase(keep);
}

async function shutdown(code: number, why: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  run.aborting = true;
  log(why);
  killAllChildren();
  const hard = setTimeout(() => process.exit(code), 70_000);
  hard.unref();
  await cleanup();
  process.exit(code);
}

shutdownOnSignalsAndCrashes(shutdown, 'killing the workers and stopping Postgres');

/** This run's folder (worker logs, journals, summary); only the last KEEP_RUNS are kept. */
async function newRunDir(): Promise<void> {
  run.dir = path.join(RUNS_DIR, `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-seed${SEED}`);
  await mkdir(run.dir, { recursive: true });
  const old = (await readdir(RUNS_DIR)).sort().slice(0, -KEEP_RUNS);
  for (const dir of old) await rm(path.join(RUNS_DIR, dir), { recursive: true, force: true });
  log(`worker logs and run journals in ${path.relative(ROOT, run.dir)}/`);
}

/** After the load: the driver's JobManager closed, every worker slot filled, every job finished. */
async function drain(): Promise<void> {
  await withTimeout(Promise.allSettled([...background]), 120_000, 'cancels and worker stops in flight').catch((e: unknown) => violation('bounded-wait', null, describe(e)));
  // The driver needs its JobManager no more; closing it is part of what is tested.
  const closing = performance.now();
  const manager = db.jobs!;
  db.jobs = undefined;
  await withTimeout(manager.close(), 15_000, 'JobManager.close()').then(
    () => log(`JobManager closed in ${Math.round(performance.now() - closing)} ms`),
    (e: unknown) => {
      finding('jobmanager-close-hang', `JobManager.close() did not return within 15 s after the load (it was used across ${faults.filter((f) => f.kind.startsWith('restart') && !f.skipped).length} Postgres restarts): ${describe(e)}`);
    },
  );
  // Every worker slot must be filled while draining (a replacement may have failed to start).
  for (let slot = 0; slot < WORKERS; slot++) if (!liveProcs().some((p) => p.slot === slot)) spawnWorker(slot);
  const drainStart = wallMs();
  let live = -1;
  while (wallMs() - drainStart < DRAIN_TIMEOUT_MS) {
    live = await untilReachable(async () => (await db.admin!<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = ANY(${QUEUES})`)[0]!.n, 'counting live jobs');
    if (live === 0) break;
    await sleep(500);
  }
  if (live !== 0) {
    const rows = await db.admin!<{ id: string; status: string; pending_dependencies: number; run_at: string; lease_owner: string | null }[]>`
      SELECT id, status, pending_dependencies, run_at::text, lease_owner FROM taiat_jobs WHERE queue = ANY(${QUEUES}) ORDER BY id LIMIT 20`;
    violation('drain', null, `${live} job(s) still live ${DRAIN_TIMEOUT_MS / 1000} s after the load stopped, e.g. ${JSON.stringify(rows)}`);
  } else {
    log(`drained in ${((wallMs() - drainStart) / 1000).toFixed(1)} s`);
  }
}

async function main(): Promise<void> {
  const startedAt = wallMs();
  // Bounded whatever happens: load, drain, stop, analysis.
  const watchdog = setTimeout(() => void shutdown(2, 'watchdog: the soak took far longer than planned; giving up'), (SECONDS + 900) * 1_000);
  watchdog.unref();

  const scenarios = [MIX ? 'the job mix' : '', SCHEDULES ? `${SCHEDULE_COUNT} schedules` : ''].filter(Boolean).join(' and ');
  log(`seed ${SEED} (replay: SOAK_SEED=${SEED}), ${SECONDS} s of ${scenarios}, ${WORKERS} workers (concurrency ${CONCURRENCY.join(', ')})${OUTAGE ? ', with outages' : ''}`);
  await newRunDir();
  await openDatabase();
  run.tag = `soak${SEED.toString(36)}-${Date.now().toString(36)}`;

  run.phase = 'run';
  for (let slot = 0; slot < WORKERS; slot++) spawnWorker(slot);
  if (SCHEDULES) await declareSchedules();
  const endAt = wallMs() + SECONDS * 1_000;
  await Promise.all([MIX ? creationLoop(endAt) : Promise.resolve(), faultLoop(endAt)]);
  log(`load over: ${created.size} jobs created; waiting for cancels and worker stops in flight`);
  if (SCHEDULES) await pauseSchedules();

  run.phase = 'drain';
  await drain();

  run.phase = 'final';
  await Promise.all(procs.filter((p) => p.exitedAt === null && p.expected === null).map((p) => stopWorker(p, 'final')));
  log('every worker stopped');

  const summary = await analyse(db.admin!, startedAt);
  run.phase = 'done';
  if (KEEP_IF_FAILED && !summary.ok) keep = true;
  printSummary(summary);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeJson(path.join(RESULTS_DIR, 'latest.json'), summary);
  await writeJson(path.join(run.dir, 'summary.json'), summary);
  log(`summary written to soak/results/latest.json and ${path.relative(ROOT, run.dir)}/summary.json`);
  await cleanup();
  process.exit(summary.ok ? 0 : 1);
}

main().catch((error: unknown) => void shutdown(1, `soak aborted: ${(error as Error)?.stack ?? error}`));
