import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { JobManager } from '../../src/index.js';
import { ROOT } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { spawnWorker, TEST_RUNS_TABLE, type WorkerProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

// docs/grafana: every metric the dashboard and the alert rules read exists on a live worker's
// /metrics, with the labels they use, and is read as its type and scope require.

interface Panel { type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[] }
interface Variable { name: string; type: string; query: string | { query: string } }
interface Rule { alert: string; expr: string; for: string; labels: { severity: string }; annotations: { summary: string; description: string } }

const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'docs/grafana/taiat.json'), 'utf8')) as {
  schemaVersion: number; panels: Panel[]; templating: { list: Variable[] };
};
const alerts = parse(readFileSync(path.join(ROOT, 'docs/grafana/alerts.yml'), 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const rules = alerts.groups.flatMap((g) => g.rules);

/** Gauges read from the database: every worker reports the same value, so a query takes max (or min), never sum. */
const DATABASE_WIDE = [
  'taiat_jobs_ready', 'taiat_jobs_blocked', 'taiat_jobs_scheduled', 'taiat_jobs_running', 'taiat_queue_oldest_ready_wait_seconds',
  'taiat_queue_paused', 'taiat_jobs_held_back', 'taiat_workers_live', 'taiat_workers_lost',
];
/** Gauges of each worker's own. */
const PER_WORKER = ['taiat_worker_slots', 'taiat_worker_free_slots', 'taiat_queue_scrape_ok'];
/** Labels Prometheus adds at scrape time, and its own series. */
const TARGET_LABELS = new Set(['job', 'instance']);
const PROMETHEUS_SERIES = new Set(['up']);

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile']);
const RATES = new Set(['rate', 'irate', 'increase']);

/** A metric a PromQL expression reads: its matchers' labels, whether under rate(), and the nearest aggregation around it. */
interface MetricUse { name: string; labels: string[]; rated: boolean; aggregation: string | null }

/** The metrics an expression reads, and the labels of its by/on/without clauses. A reader for our files, not a PromQL parser. */
function readExpression(expr: string): { metrics: MetricUse[]; grouping: string[] } {
  const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '');
  const tokens: string[] = text.match(/[A-Za-z_:][\w:]*|\{[^}]*\}|[()]|\d[\d.]*|[^\s\w(){}]+/g) ?? [];
  const metrics: MetricUse[] = [];
  const grouping: string[] = [];
  const open: string[] = []; // the function of each open parenthesis ('' for plain ones)
  let fn: string | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const [token, next] = [tokens[i]!, tokens[i + 1]];
    if (token === '(') open.push(fn ?? '');
    if (token === '(' || token === ')') {
      if (token === ')') open.pop();
      fn = null;
      continue;
    }
    if (!/^[A-Za-z_:]/.test(token) || KEYWORDS.has(token)) continue;
    if (GROUPING.has(token)) {
      if (next !== '(') continue;
      const close = tokens.indexOf(')', i);
      grouping.push(...tokens.slice(i + 2, close).filter((t) => /^[A-Za-z_]/.test(t)));
      i = close;
    } else if (next === '(' || (AGGREGATIONS.has(token) && GROUPING.has(next ?? ''))) {
      fn = token;
    } else {
      const labels = next?.startsWith('{') ? [...next.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!) : [];
      metrics.push({ name: token, labels, rated: open.some((f) => RATES.has(f)), aggregation: open.findLast((f) => AGGREGATIONS.has(f)) ?? null });
    }
  }
  return { metrics, grouping };
}

/**
 * Every PromQL expression of the two files, named for its panel, variable or rule. A variable's
 * `label_values(expr, label)` gives expr and label, and reads names, not values.
 */
function expressions(): { where: string; expr: string; labels: string[]; values: boolean }[] {
  const found = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr, labels: [] as string[], values: true })));
  for (const v of dashboard.templating.list.filter((v) => v.type === 'query')) {
    const query = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(query);
    expect(m, `variable ${v.name}: ${query}`).not.toBeNull();
    found.push({ where: `variable ${v.name}`, expr: m![1]!, labels: [m![2]!], values: false });
  }
  for (const r of rules) found.push({ where: `alert ${r.alert}`, expr: r.expr, labels: [], values: true });
  return found;
}

/** The series of a Prometheus text exposition: label names by sample name, and the type of each family. */
function readExposition(text: string) {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const names = labels.get(sample[1]!) ?? new Set<string>();
    for (const l of (sample[2] ?? '').matchAll(/([A-Za-z_]\w*)="/g)) names.add(l[1]!);
    labels.set(sample[1]!, names);
  }
  const typeOf = (name: string) => types.get(name) ?? (types.get(name.replace(/_(bucket|sum|count)$/, '')) === 'histogram' ? 'histogram' : undefined);
  return { types, labels, typeOf };
}

describe('docs/grafana', () => {
  it('reads the metrics and labels of a PromQL expression', () => {
    const read = readExpression('sum by (queue, le) (rate(a_total{job=~"$job", queue!="x"}[5m])) / on (queue) max(b{reason="r"}) or absent(up == 1)');
    expect(read.grouping).toEqual(['queue', 'le', 'queue']);
    expect(read.metrics).toEqual([
      { name: 'a_total', labels: ['job', 'queue'], rated: true, aggregation: 'sum' },
      { name: 'b', labels: ['reason'], rated: false, aggregation: 'max' },
      { name: 'up', labels: [], rated: false, aggregation: null },
    ]);
  });

  it('has the panels and alert rules of issue 23', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const titles = dashboard.panels.map((p) => p.title);
    expect(titles).toEqual(expect.arrayContaining([
      'Throughput', 'Failure ratio', 'Wait time p50, p95, p99', 'Run time p50, p95, p99', 'Ready by queue', 'Blocked by queue',
      'Running by queue', 'Scheduled by queue', 'Oldest ready wait by queue', 'Held back by flow control', 'Paused queues', 'Free slots',
      'Slot use', 'Live and lost workers', 'Jobs recovered from lost workers', 'Scrape status',
    ]));
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'job', 'queue', 'instance']);
    expect(rules.map((r) => r.alert)).toEqual(['TaiatNoLiveWorker', 'TaiatOldestReadyWaitHigh', 'TaiatFailureRatioHigh', 'TaiatScrapeFailing', 'TaiatQueueGaugesUnread']);
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^\d+m$/);
      expect(['warning', 'critical'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary.length * r.annotations.description.length, r.alert).toBeGreaterThan(0);
    }
  });

  describe('on a live worker', () => {
    const db = useTestDatabase();
    const children: WorkerProcess[] = [];
    let jobs: JobManager | undefined;
    afterAll(async () => {
      for (const c of children) c.child.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      await jobs?.close();
    });

    it('serves every metric the dashboard and the rules read, with their labels', async () => {
      await db.sql.unsafe(TEST_RUNS_TABLE);
      jobs = await JobManager.connect({ databaseUrl: db.url });
      // A paused queue with a ready job.
      await jobs.pauseQueue('held');
      await jobs.createJob({ jobType: 'agent', name: 'held', payload: { agent_name: 'record' }, queue: 'held' });
      const w = spawnWorker(db.url, ['--metrics-port', '0', '--lease-seconds', '2']);
      children.push(w);
      const port = await waitFor(() => /"port":(\d+),"msg":"serving \/metrics/.exec(w.output())?.[1], 'the metrics server');

      // A job of a lost worker (its lease expired), taken back once the metrics count it (a rescue runs every second).
      await db.sql`
        INSERT INTO taiat_jobs (id, job_type, name, payload, status, lease_owner, lease_expires_at, started_at, attempts)
        VALUES ('g-lost', 'agent', 'lost', '{"agent_name":"record"}', 'running', 'gone', now() - interval '1 minute', now() - interval '2 minutes', 1)`;

      await jobs.createJob({ jobType: 'agent', name: 'ok', payload: { agent_name: 'record' } });
      await jobs.createJob({ jobType: 'agent', name: 'ghost', payload: { agent_name: 'ghost' } });
      await jobs.createJob({ jobType: 'agent', name: 'slow', payload: { agent_name: 'hang' }, timeoutSeconds: 0.3, maxRetries: 1, retryDelaySeconds: 0 });
      const hung = await jobs.createJob({ jobType: 'agent', name: 'hung', payload: { agent_name: 'hang' } });
      await waitFor(async () => (await jobs!.getJob(hung.id))?.status === 'running', 'the job to cancel to start');
      await jobs.cancelJob(hung.id);

      await waitFor(async () => (await db.sql`SELECT count(*)::int AS n FROM taiat_job_history`)[0]!.n === 5, 'the five jobs of queue default to finish');
      const wanted = ['completed', 'failed', 'retried', 'cancelled'].map((o) => `taiat_jobs_${o}_total{queue="default",job_type="agent"}`);
      const text = await waitFor(async () => {
        const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return [...wanted, 'taiat_jobs_recovered_total{outcome="retried"}'].every((s) => body.includes(s)) ? body : null;
      }, 'completed, failed, retried, cancelled and recovered jobs to be counted');
      const scraped = readExposition(text);

      const problems: string[] = [];
      const used = new Set<string>();
      for (const { where, expr, labels: extra, values } of expressions()) {
        const { metrics, grouping } = readExpression(expr);
        if (metrics.length === 0) problems.push(`${where}: reads no metric`);
        const ours = metrics.filter((m) => !PROMETHEUS_SERIES.has(m.name));
        for (const m of ours) {
          used.add(m.name);
          const labels = scraped.labels.get(m.name);
          if (!labels) {
            problems.push(`${where}: ${m.name} is not on /metrics`);
            continue;
          }
          for (const l of [...m.labels, ...grouping, ...extra].filter((l) => !TARGET_LABELS.has(l))) {
            if (!labels.has(l)) problems.push(`${where}: ${m.name} has no label ${l} (it has ${[...labels].join(', ') || 'none'})`);
          }
          const type = scraped.typeOf(m.name);
          if (m.rated !== (type === 'counter' || type === 'histogram')) problems.push(`${where}: ${m.name} is a ${type}, ${m.rated ? '' : 'not '}under rate()`);
          if (values && DATABASE_WIDE.includes(m.name) && m.aggregation !== 'max' && m.aggregation !== 'min') {
            problems.push(`${where}: ${m.name} is the same on every worker: aggregate it with max, not ${m.aggregation ?? 'nothing'}`);
          }
        }
      }
      expect(problems).toEqual([]);

      // Every family the worker serves is shown, and every gauge is known as database-wide or per worker.
      const families = [...scraped.types.keys()];
      expect(families.filter((f) => ![...used].some((u) => u === f || u.replace(/_(bucket|sum|count)$/, '') === f))).toEqual([]);
      expect(families.filter((f) => scraped.types.get(f) === 'gauge' && !DATABASE_WIDE.includes(f) && !PER_WORKER.includes(f))).toEqual([]);
      expect(scraped.labels.get('taiat_jobs_held_back')).toEqual(new Set(['queue', 'reason']));
      expect(Number(/^taiat_workers_live (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    }, 60_000);
  });
});
