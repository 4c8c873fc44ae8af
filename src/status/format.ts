import { progressText } from '../jobs/progress.js';
import type { HeldBack, QueueSettings } from '../store/index.js';
import type { SystemStatus } from './status.js';

/** Colour only on a terminal. */
export interface Style {
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  dim(s: string): string;
}

export const plain: Style = { bold: (s) => s, red: (s) => s, green: (s) => s, dim: (s) => s };
export const ansi: Style = {
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  red: (s) => `\x1b[31m${s}\x1b[39m`,
  green: (s) => `\x1b[32m${s}\x1b[39m`,
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
};

/** Aligns rows of cells into columns. */
export function table(rows: string[][], indent = '  '): string {
  if (rows.length === 0) return `${indent}(none)\n`;
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.round((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.round((seconds % 86400) / 3600)}h`;
}

const ago = (d: Date, now: Date) => `${duration(Math.max(0, (now.getTime() - d.getTime()) / 1000))} ago`;
const oneLine = (s: string | null, max = 80) => {
  const line = (s ?? '').replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/** A rate period as the CLI takes it: `500ms`, `1s`, `90s`, `5m`, `2h`, `1d`. */
export function period(seconds: number): string {
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds >= n && seconds % n === 0) return `${seconds / n}${unit}`;
  return seconds < 1 && Number.isInteger(Math.round(seconds * 1e6) / 1e3) ? `${Math.round(seconds * 1e6) / 1e3}ms` : `${seconds}s`;
}

type RateLimit = NonNullable<QueueSettings['rateLimit']>;

const rateText = (r: RateLimit) => `${r.limit}/${period(r.periodSeconds)}`;

/** A queue's limits in one line: `concurrency 5, key concurrency 2, rate 20/1s, key rate 5/1m, 1 key with its own`; `-` for none. */
export function limitsText(q: { concurrency: number | null; keyConcurrency: number | null; rateLimit: RateLimit | null; keyRateLimit: RateLimit | null }, keysWithLimits: number): string {
  const parts: string[] = [];
  if (q.concurrency !== null) parts.push(`concurrency ${q.concurrency}`);
  if (q.keyConcurrency !== null) parts.push(`key concurrency ${q.keyConcurrency}`);
  if (q.rateLimit !== null) parts.push(`rate ${rateText(q.rateLimit)}`);
  if (q.keyRateLimit !== null) parts.push(`key rate ${rateText(q.keyRateLimit)}`);
  if (keysWithLimits > 0) parts.push(`${keysWithLimits} key(s) with their own`);
  return parts.join(', ') || '-';
}

/** Ready jobs held back, by reason: `paused 3, key limit 2`; `-` for none. */
export function heldBackText(h: HeldBack): string {
  const parts = ([['paused', h.paused], ['queue limit', h.queueLimit], ['rate limit', h.rateLimit], ['key limit', h.keyLimit]] as const)
    .filter(([, n]) => n > 0).map(([what, n]) => `${what} ${n}`);
  return parts.join(', ') || '-';
}

/** The human-readable `--status` report. */
export function formatStatus(s: SystemStatus, style: Style = plain): string {
  const now = s.generatedAt;
  const f = s.finished;
  let out = '';
  out += style.bold('Jobs') + '\n';
  out += table([
    ['pending', String(s.pending.total), `ready ${s.pending.ready}, blocked on dependencies ${s.pending.blocked}, scheduled later ${s.pending.scheduled}`],
    ['running', String(s.running.total), s.running.byWorker.length ? `on ${s.running.byWorker.length} worker(s)` : ''],
    ['last hour', '', `completed ${f.lastHour.completed}, failed ${f.lastHour.failed}, cancelled ${f.lastHour.cancelled}`],
    ['last day', '', `completed ${f.lastDay.completed}, failed ${f.lastDay.failed}, cancelled ${f.lastDay.cancelled}`],
    ['oldest ready wait', duration(s.oldestReadyWaitSeconds), ''],
  ]);
  out += '\n' + style.bold('Running, by worker') + '\n';
  const lost = style.red('worker lost: its jobs go back when their leases expire');
  out += table(s.running.byWorker.map((r) => [r.workerId, `${r.jobs} job(s)`, `oldest running ${duration(r.oldestRunningSeconds)}`, r.workerLost ? lost : '']));
  if (s.running.progress.length > 0) {
    out += '\n' + style.bold('Progress of running jobs') + '\n';
    out += table(s.running.progress.map((p) => [p.jobId, p.name, oneLine(progressText(p.progress)), `running ${duration(p.runningSeconds)} on ${p.workerId}${p.workerLost ? style.red(' (lost)') : ''}`]));
  }
  out += '\n' + style.bold('Blocked on') + '\n';
  out += table(s.blockedOn.map((b) => [b.jobId, b.name, b.status, `${b.waiting} job(s) waiting`]));
  out += '\n' + style.bold('Queues') + '\n';
  out += table(s.queues.length ? [['queue', 'priority', 'ready', 'blocked', 'scheduled', 'running', 'workers'], ...s.queues.map((q) => [
    q.queue, String(q.priority), String(q.ready), String(q.blocked), String(q.scheduled), String(q.running),
    q.servedBy === 0 && q.ready > 0 ? style.red('0: no live worker serves this queue') : String(q.servedBy),
  ])] : []);
  out += '\n' + style.bold('Recent failures') + '\n';
  out += table(s.recentFailures.map((x) => [ago(x.completedAt, now), x.id, x.name, style.red(oneLine(x.errorMessage))]));
  out += '\n' + style.bold('Workers') + '\n';
  out += table([
    ...s.workers.alive.map((w) => [style.green('alive'), w.id, `${w.hostname} pid ${w.pid}`, `started ${ago(w.startedAt, now)}`, `heartbeat ${ago(w.lastHeartbeatAt, now)}`, `${w.jobsInHand}/${w.concurrency} jobs`]),
    ...s.workers.lost.map((w) => [style.red('lost'), w.id, `${w.hostname} pid ${w.pid}`, `started ${ago(w.startedAt, now)}`, `heartbeat ${ago(w.lastHeartbeatAt, now)}`, `${w.jobsInHand}/${w.concurrency} jobs`]),
  ]);
  if (s.schedules.length > 0) {
    out += '\n' + style.bold('Schedules') + '\n';
    out += table(s.schedules.map((x) => [
      x.id, x.paused ? 'paused' : `next ${x.nextTickAt.toISOString()}`, x.lastTickAt ? `last ${ago(x.lastTickAt, now)}: ${x.lastOutcome ?? '-'}` : 'no tick yet',
      x.lastError ? style.red(oneLine(x.lastError)) : x.warning ? style.red(`warning: ${x.warning}`) : '',
    ]));
  }
  if (s.flowControl.length > 0) {
    out += '\n' + style.bold('Flow control') + '\n';
    out += table([
      ['queue', 'state', 'limits', 'ready', 'running', 'held back'],
      ...s.flowControl.map((q) => [
        q.queue, q.paused ? style.red(`paused${q.pausedAt ? ` ${ago(q.pausedAt, now)}` : ''}`) : 'active',
        limitsText(q, q.keysWithLimits), String(q.ready), String(q.running), heldBackText(q.heldBack),
      ]),
    ]);
  }
  return out;
}
