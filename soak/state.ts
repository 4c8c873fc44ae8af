/**
 * What the driver records during a run, for the checks: the jobs it created, its cancel requests,
 * its faults, its worker processes; and the violations and findings found on the way.
 */
import type { ChildProcess } from 'node:child_process';
import type { WriteStream } from 'node:fs';
import { log, wallMs } from './clock.js';

export type FaultKind = 'kill9' | 'sigterm' | 'restart-fast' | 'restart-immediate' | 'terminate-backend' | 'outage' | 'all-workers-down';
export interface Fault { seq: number; kind: FaultKind; at: number; doneAt: number; pid: number | null; detail: string; skipped: boolean }
export interface Cancel { jobId: string; role: string; sentAt: number; ackedAt: number | null; result: string }
export interface Created { id: string; scenario: string; role: string; params: unknown; createdAt: number }
/** A schedule of the schedules scenario: how it catches up, and when the driver declared and paused it. */
export interface SoakSchedule {
  id: string;
  catchUp: 'skip' | 'latest' | 'all';
  catchUpLimit: number;
  sleepMs: number;
  declaredAt: number;
  declareAckedAt: number | null;
  pausedAt: number | null;
  pauseAckedAt: number | null;
}
export interface Violation { check: string; jobId: string | null; detail: string }
export interface Proc {
  slot: number;
  pid: number;
  concurrency: number;
  child: ChildProcess;
  startedAt: number;
  /** When it logged "worker started" (its loops and scheduler running), if it did. */
  readyAt: number | null;
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

export const created = new Map<string, Created>();
/** Ids of the latest jobs created, for scenarios that depend on earlier jobs. */
export const recent: string[] = [];
export const cancels: Cancel[] = [];
export const faults: Fault[] = [];
export const procs: Proc[] = [];
export const violations: Violation[] = [];
export const schedules: SoakSchedule[] = [];

/** The run's phase and the scalars that go with it. */
export const run = {
  phase: 'setup' as 'setup' | 'run' | 'drain' | 'final' | 'done',
  aborting: false,
  /** soak/results/runs/<time>-seed<seed>/, set once the run starts. */
  dir: '',
  /** Prefix of the job ids of this run. */
  tag: '',
  rejectedGraphs: 0,
  rejectedJobs: 0,
};

export function violation(check: string, jobId: string | null, detail: string): void {
  violations.push({ check, jobId, detail });
  log(`VIOLATION ${check}${jobId ? ` ${jobId}` : ''}: ${detail}`);
}

/** Problems worth reporting that are not job invariants (a call that hung, an unexpected error), by kind. */
const findingKinds = new Map<string, { count: number; example: string }>();
export function finding(kind: string, example: string): void {
  const f = findingKinds.get(kind);
  if (f) f.count += 1;
  else {
    findingKinds.set(kind, { count: 1, example });
    log(`FINDING ${kind}: ${example}`);
  }
}
export const findingList = () => [...findingKinds].map(([kind, f]) => `${kind}: ${f.count} time(s); first: ${f.example}`);

/** Work in flight (cancels, worker stops) that the drain waits for. */
export const background = new Set<Promise<unknown>>();
export function track<T>(p: Promise<T>): Promise<T> {
  background.add(p);
  void p.finally(() => background.delete(p)).catch(() => {});
  return p;
}

export function lastFault(): string {
  const f = faults.at(-1);
  return f ? `#${f.seq} ${f.kind} ${((wallMs() - f.at) / 1000).toFixed(1)} s before` : 'none';
}

export const liveProcs = (): Proc[] => procs.filter((p) => p.exitedAt === null && p.expected === null);
