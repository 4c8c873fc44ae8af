/**
 * Faults injected while the load runs, every kind in turn in a seeded order: kill -9 or SIGTERM
 * of a worker, Postgres restarts (fast, immediate), pg_terminate_backend of a worker's
 * connection, with the schedules scenario every worker killed for a few seconds (ticks fall due
 * while none is alive; at least once a run), and, opt-in, an outage longer than the lease.
 */
import { performance } from 'node:perf_hooks';
import { sleep } from '../bench/lib/time.js';
import { log, wallMs, withTimeout } from './clock.js';
import { FAULT_GAP_MS, faultRng, LEASE_SECONDS, OUTAGE, SCHEDULES, WORKERS } from './config.js';
import { db, startEmbedded } from './database.js';
import { describe } from './db-errors.js';
import { faults, liveProcs, run, track, type Fault, type FaultKind } from './state.js';
import { spawnWorker, stopWorker } from './workers.js';

let faultSeq = 0;

async function inject(kind: FaultKind): Promise<void> {
  const fault: Fault = { seq: ++faultSeq, kind, at: wallMs(), doneAt: 0, pid: null, detail: '', skipped: false };
  faults.push(fault);
  try {
    switch (kind) {
      case 'kill9':
      case 'sigterm': {
        const candidates = liveProcs().filter((p) => p.started).sort((a, b) => a.slot - b.slot);
        if (candidates.length === 0) {
          fault.skipped = true;
          fault.detail = 'no started worker';
          break;
        }
        // Prefer a worker that holds running jobs, so that the fault cuts runs.
        const busy = await db.admin!<{ pid: number; n: number }[]>`
          SELECT w.pid, count(*)::int AS n FROM taiat_jobs j JOIN taiat_workers w ON w.id = j.lease_owner
           WHERE j.status = 'running' GROUP BY w.pid`.catch(() => []);
        const busyPids = new Set(busy.map((b) => b.pid));
        const preferred = candidates.filter((p) => busyPids.has(p.pid));
        const victim = faultRng.pick(preferred.length > 0 ? preferred : candidates);
        const holding = busy.find((b) => b.pid === victim.pid)?.n ?? 0;
        fault.pid = victim.pid;
        if (kind === 'kill9') {
          victim.expected = 'kill9';
          victim.killedAt = wallMs();
          fault.at = victim.killedAt;
          victim.child.kill('SIGKILL');
          fault.detail = `worker ${victim.slot}, holding ${holding} running job(s)`;
        } else {
          fault.detail = `worker ${victim.slot}, holding ${holding} running job(s)`;
          track(stopWorker(victim, 'sigterm'));
        }
        spawnWorker(victim.slot);
        break;
      }
      case 'restart-fast':
      case 'restart-immediate': {
        if (!db.server) {
          fault.skipped = true;
          fault.detail = 'TAIAT_SOAK_DATABASE_URL: restarts skipped';
          break;
        }
        const mode = kind === 'restart-fast' ? 'fast' : 'immediate';
        const started = performance.now();
        await withTimeout(db.server.restart(mode), 120_000, `Postgres restart (${mode})`);
        fault.detail = `pg_ctl restart -m ${mode}: ${Math.round(performance.now() - started)} ms`;
        break;
      }
      case 'outage': {
        if (!db.server || !db.dir) {
          fault.skipped = true;
          fault.detail = 'TAIAT_SOAK_DATABASE_URL: outages skipped';
          break;
        }
        const downMs = LEASE_SECONDS * 1_000 + 1_500;
        await withTimeout(db.server.stop(), 60_000, 'stopping Postgres');
        const stoppedAt = wallMs();
        await sleep(downMs);
        db.server = await withTimeout(startEmbedded(db.dir), 120_000, 'starting Postgres');
        fault.detail = `Postgres stopped (fast) and down for ${Math.round(wallMs() - stoppedAt)} ms (lease ${LEASE_SECONDS} s)`;
        break;
      }
      case 'all-workers-down': {
        // A quarter second past a whole second: the jobs of the ticks just created are running.
        await sleep(1_250 - (wallMs() % 1_000));
        const victims = liveProcs();
        for (const victim of victims) {
          victim.expected = 'kill9';
          victim.killedAt = wallMs();
          victim.child.kill('SIGKILL');
        }
        fault.at = wallMs();
        await withTimeout(Promise.all(victims.map((v) => v.exited)), 10_000, 'killed workers to exit');
        const downMs = faultRng.int(3_000, 6_000);
        await sleep(downMs);
        // A replacement whose start had failed may have come back meanwhile: fill the empty slots only.
        for (let slot = 0; slot < WORKERS; slot++) if (!liveProcs().some((p) => p.slot === slot)) spawnWorker(slot);
        fault.detail = `all ${victims.length} workers killed (-9), restarted ${Math.round(wallMs() - fault.at)} ms later`;
        break;
      }
      case 'terminate-backend': {
        const rows = await db.admin!<{ pid: number; application_name: string; state: string }[]>`
          SELECT pid, application_name, coalesce(state, '') AS state FROM pg_stat_activity
           WHERE application_name LIKE 'taiat worker%' AND datname = current_database() ORDER BY pid`;
        if (rows.length === 0) {
          fault.skipped = true;
          fault.detail = 'no taiat worker backend';
          break;
        }
        const target = faultRng.pick(rows);
        const [r] = await db.admin!<{ ok: boolean }[]>`SELECT pg_terminate_backend(${target.pid}) AS ok`;
        fault.pid = target.pid;
        fault.detail = `backend ${target.pid} (${target.application_name}, ${target.state || 'n/a'}): ${r?.ok ? 'terminated' : 'not terminated'}`;
        break;
      }
    }
  } catch (error) {
    fault.skipped = true;
    fault.detail = `failed: ${describe(error)}`;
  }
  fault.doneAt = wallMs();
  log(`fault #${fault.seq} ${kind}${fault.pid ? ` pid ${fault.pid}` : ''}: ${fault.skipped ? 'SKIPPED ' : ''}${fault.detail}`);
}

// With the schedules, the window with no worker comes at the latest this long before the end.
const ALL_DOWN_LATEST_MS = 25_000;

export async function faultLoop(endAt: number): Promise<void> {
  const kinds: FaultKind[] = [
    'kill9', 'sigterm', 'restart-fast', 'restart-immediate', 'terminate-backend',
    ...(OUTAGE ? ['outage' as const] : []), ...(SCHEDULES ? ['all-workers-down' as const] : []),
  ];
  let bag: FaultKind[] = [];
  await sleep(faultRng.int(2_000, 4_000));
  while (!run.aborting && wallMs() < endAt - 3_000) {
    if (bag.length === 0) bag = faultRng.shuffle([...kinds]);
    const overdue = SCHEDULES && wallMs() > endAt - ALL_DOWN_LATEST_MS && !faults.some((f) => f.kind === 'all-workers-down' && !f.skipped);
    const kind = overdue ? 'all-workers-down' : bag.pop()!;
    if (overdue && bag.includes(kind)) bag.splice(bag.indexOf(kind), 1);
    await inject(kind);
    await sleep(faultRng.int(...FAULT_GAP_MS));
  }
}

