/**
 * The `taiat-worker` processes under test: started per slot, replaced when they exit unasked,
 * stopped with SIGTERM and a bounded wait.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { trackChild } from '../bench/lib/processes.js';
import { sleep } from '../bench/lib/time.js';
import { clockOffsetMs, log, wallMs, withTimeout } from './clock.js';
import { CONCURRENCY, LEASE_SECONDS, QUEUES, ROOT, SHUTDOWN_TIMEOUT, WORKER_EXIT_TIMEOUT_MS } from './config.js';
import { db } from './database.js';
import { procs, run, track, violation, type Proc } from './state.js';

let consecutiveStartFailures = 0;

export function spawnWorker(slot: number): Proc {
  const concurrency = CONCURRENCY[slot]!;
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/taiat-worker.js'), '--agents', 'soak/agents.mjs', '--queues', QUEUES.join(','),
      '--max-concurrent-jobs', String(concurrency), '--lease-seconds', String(LEASE_SECONDS), '--poll-interval', '0.5',
      '--shutdown-timeout', String(SHUTDOWN_TIMEOUT), '--log-level', 'info',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env, TAIAT_DATABASE_URL: db.url, DATABASE_URL: '', TAIAT_AGENT_CONFIG: '',
        SOAK_RUN_DIR: run.dir, SOAK_CLOCK_OFFSET_MS: String(clockOffsetMs()), SOAK_DRIVER_PID: String(process.pid),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  trackChild(child);
  const pid = child.pid ?? -1;
  const out = createWriteStream(path.join(run.dir, `worker-${slot}-${pid}.log`));
  const proc: Proc = {
    slot, pid, concurrency, child, startedAt: wallMs(), readyAt: null, killedAt: null, signalledAt: null, exitedAt: null, expected: null, how: 'running',
    code: null, signal: null, started: false, tail: '', out, exited: Promise.resolve(),
  };
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    out.write(text);
    proc.tail = (proc.tail + text).slice(-8_000);
    if (!proc.started && proc.tail.includes('"worker started"')) {
      proc.started = true;
      proc.readyAt = loggedAt(proc.tail, '"worker started"') ?? wallMs();
      consecutiveStartFailures = 0;
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  proc.exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      proc.exitedAt = wallMs();
      proc.code = code;
      proc.signal = signal;
      out.end();
      onWorkerExit(proc);
      resolve();
    });
  });
  procs.push(proc);
  log(`worker ${slot} started: pid ${pid}, concurrency ${concurrency}`);
  return proc;
}

/** The time (in the server's clock) of the last log line containing `marker`, from pino's `time`. */
function loggedAt(text: string, marker: string): number | null {
  const line = text.split('\n').findLast((l) => l.includes(marker));
  try {
    const time = (JSON.parse(line ?? '') as { time?: unknown }).time;
    return typeof time === 'number' ? time + clockOffsetMs() : null;
  } catch {
    return null;
  }
}

function onWorkerExit(proc: Proc): void {
  const desc = `pid ${proc.pid} exited (code ${proc.code}, signal ${proc.signal})`;
  if (proc.expected === 'kill9') {
    proc.how = 'kill9';
    return;
  }
  if (proc.expected === 'sigterm' || proc.expected === 'final') {
    proc.how = proc.expected;
    if (proc.code !== 0 && proc.killedAt === null) {
      violation('worker-exit', null, `after SIGTERM, worker ${desc}; a graceful stop exits 0. Last output:\n${proc.tail.slice(-2_000)}`);
    }
    return;
  }
  if (run.aborting) return;
  if (!proc.started && /TAIAT_DATABASE_UNAVAILABLE/.test(proc.tail)) {
    // Started while Postgres was restarting: the daemon exits when it cannot connect at start.
    proc.how = 'startup-failed';
    log(`worker ${proc.slot} ${desc} at start-up (database unreachable); starting it again`);
    if (++consecutiveStartFailures > 20) violation('worker-exit', null, `workers keep failing to start: ${proc.tail.slice(-1_000)}`);
  } else {
    proc.how = 'crash';
    violation('worker-exit', null, `worker ${proc.slot} ${desc} without being asked to. Last output:\n${proc.tail.slice(-3_000)}`);
  }
  if (run.phase === 'run' || run.phase === 'drain') {
    track(sleep(proc.started ? 0 : 1_000).then(() => {
      if (!run.aborting && (run.phase === 'run' || run.phase === 'drain')) spawnWorker(proc.slot);
    }));
  }
}

/** SIGTERM, then a bounded wait for the exit (SIGKILL and a violation past it). */
export async function stopWorker(proc: Proc, expected: 'sigterm' | 'final'): Promise<void> {
  proc.expected = expected;
  proc.signalledAt = wallMs();
  proc.child.kill('SIGTERM');
  try {
    await withTimeout(proc.exited, WORKER_EXIT_TIMEOUT_MS, `worker pid ${proc.pid} to exit after SIGTERM`);
  } catch {
    violation('worker-exit', null, `worker pid ${proc.pid} still running ${WORKER_EXIT_TIMEOUT_MS / 1000} s after SIGTERM (shutdown timeout ${SHUTDOWN_TIMEOUT} s); killed. Last output:\n${proc.tail.slice(-2_000)}`);
    proc.killedAt = wallMs();
    proc.child.kill('SIGKILL');
    await withTimeout(proc.exited, 10_000, `worker pid ${proc.pid} to exit after SIGKILL`).catch(() => {});
  }
}
