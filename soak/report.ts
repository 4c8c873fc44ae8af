/** The soak's summary: its shape (also soak/results/latest.json) and how it prints. */
import type { ScheduleFigures } from './schedule-checks.js';
import type { Violation } from './state.js';

export interface Summary {
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
  /** The schedules scenario's figures, when it ran. */
  schedules?: ScheduleFigures;
  stories: string[];
}

export function printSummary(s: Summary): void {
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
  if (s.schedules) {
    const c = s.schedules;
    const l = c.lateness;
    out.push(`  schedules:     ${c.schedules} every ${c.tickSeconds} s (${kv(c.policies)}): ${c.ticks} ticks, ${c.jobs} jobs, duplicates ${c.duplicates}, missing ${c.missing} (at a schedule's end, not reached before its pause: ${c.notReachedBeforePause}), due with no scheduler and caught up ${c.caughtUp}; ${c.ranAgain} job(s) ran again after a lost attempt (${c.completedTwice} of them had returned before their worker died or lost its lease)`);
    out.push(`  tick lateness: created - due, away from faults (${l.quietTicks} ticks): p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms (target p99 <= ${l.targetP99Ms} ms); all ${l.allTicks.n} ticks: p50 ${l.allTicks.p50Ms} ms, p99 ${l.allTicks.p99Ms} ms, max ${l.allTicks.maxMs} ms`);
    out.push(`  first run:     started - due, away from faults: p50 ${l.firstRunStart.p50Ms} ms, p99 ${l.firstRunStart.p99Ms} ms, max ${l.firstRunStart.maxMs} ms`);
    out.push(`  no scheduler:  ${c.windows.length} window(s)`, ...c.windows.map((w) => `    ${w}`));
  }
  out.push('  checks:');
  for (const c of s.checks) out.push(`    ${c.violations === 0 ? 'ok  ' : 'FAIL'} ${c.name}: ${c.what}${c.violations ? ` (${c.violations})` : ''}`);
  out.push(`  invariant violations: ${s.violationCount}`);
  for (const v of s.violations.slice(0, 50)) out.push(`    ${v.check}${v.jobId ? ` ${v.jobId}` : ''}: ${v.detail}`);
  if (s.violations.length > 50) out.push(`    ... and ${s.violations.length - 50} more (soak/results/latest.json)`);
  if (s.findings.length > 0) out.push(`  findings (not job invariants):`, ...s.findings.map((f) => `    ${f}`));
  for (const story of s.stories) out.push('', story);
  process.stdout.write(`${out.join('\n')}\n`);
}
