import { get, post } from '../api.js';
import { ago, h, link, stateBadge, table, when } from '../dom.js';
import { showError, type Page } from '../page.js';

/** A page that shows one table and redraws it on refresh. */
async function listPage(title: string, render: () => Promise<HTMLElement>): Promise<Page> {
  const body = h('div', {}, await render());
  return { el: h('section', {}, h('h1', {}, title), body), refresh: async () => void body.replaceChildren(await render()) };
}

interface Queue { name: string; paused: boolean; concurrency: number | null; keyConcurrency: number | null; ready: number; running: number }

export function queuesPage(): Promise<Page> {
  const status = h('p', { class: 'muted', role: 'status' });
  const render = async (): Promise<HTMLElement> => {
    const queues = await get<Queue[]>('queues');
    const toggle = (q: Queue) => h('button', {
      type: 'button', class: 'action', 'data-queue': q.name,
      onclick: () => void post(`queues/${encodeURIComponent(q.name)}/${q.paused ? 'resume' : 'pause'}`).then(async () => void page.refresh?.()).catch((e) => showError(e, status)),
    }, q.paused ? 'Resume' : 'Pause');
    return h('div', {}, status, queues.length === 0 ? h('p', { class: 'muted' }, 'No queue has flow control.') : table(['queue', 'paused', 'concurrency', 'per key', 'ready', 'running', ''],
      queues.map((q) => [link(`/jobs?queue=${encodeURIComponent(q.name)}`, q.name), q.paused ? 'paused' : '', String(q.concurrency ?? '—'), String(q.keyConcurrency ?? '—'), String(q.ready), String(q.running), toggle(q)]), { id: 'queues' }));
  };
  let page: Page;
  return listPage('Queues', render).then((p) => (page = p));
}

interface Worker { id: string; hostname: string; pid: number; queues: string[]; concurrency: number; version: string; lastHeartbeatAt: string; jobsInHand: number }

export function workersPage(): Promise<Page> {
  return listPage('Workers', async () => {
    const w = await get<{ alive: Worker[]; lost: Worker[] }>('workers');
    const rows = (list: Worker[], state: string) => list.map((x) => [x.id, state, `${x.hostname}:${x.pid}`, x.queues.join(', '), `${x.jobsInHand} / ${x.concurrency}`, `${ago(x.lastHeartbeatAt)} ago`, x.version]);
    return table(['worker', 'state', 'where', 'queues', 'jobs in hand', 'heartbeat', 'version'], [...rows(w.alive, 'alive'), ...rows(w.lost, 'lost')], { id: 'workers' });
  });
}

interface Schedule {
  id: string; cron: string | null; everySeconds: number | null; timeZone: string; paused: boolean;
  nextTickAt: string; lastTickAt: string | null; lastOutcome: string | null; lastJobIds: string[]; lastError: string | null;
}

/** An interval as a schedule is declared with it (`every: '5m'`): the largest unit that divides it. */
function interval(seconds: number): string {
  for (const [unit, n] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) if (seconds % n === 0) return `every ${seconds / n}${unit}`;
  return `every ${seconds}s`;
}

/** Errors can be whole stack traces: the cell keeps one line of them, the tooltip all of it. */
function problem(text: string, attrs: Record<string, string>) {
  const line = text.replace(/\s+/g, ' ').trim();
  return h('div', { class: 'error', title: text, ...attrs }, line.length > 160 ? `${line.slice(0, 159)}…` : line);
}

export function schedulesPage(): Promise<Page> {
  const status = h('p', { class: 'muted', role: 'status' });
  let page: Page;
  const act = (id: string, verb: string) => void post(`schedules/${encodeURIComponent(id)}/${verb}`).then(() => page.refresh?.()).catch((e) => showError(e, status));
  return listPage('Schedules', async () => {
    // The warning (no live worker runs a schedule's agent) is the status's, as `taiat status` shows it;
    // its recent failures (the last 10) give the error of a tick whose job failed, when it is one of them.
    const [list, { status: st }] = await Promise.all([get<Schedule[]>('schedules'), get<{ status: {
      schedules: { id: string; warning: string | null }[]; recentFailures: { id: string; errorMessage: string | null }[] } }>('overview')]);
    const warnings = new Map(st.schedules.map((s) => [s.id, s.warning]));
    const failures = new Map(st.recentFailures.map((f) => [f.id, f.errorMessage]));
    const jobError = (s: Schedule) => s.lastOutcome === 'failed' ? s.lastJobIds.map((id) => failures.get(id)).find(Boolean) : null;
    const outcome = (s: Schedule) => {
      if (!s.lastOutcome) return s.lastTickAt || s.lastError ? '—' : h('span', { class: 'muted' }, 'no tick yet');
      const badge = stateBadge(s.lastOutcome);
      return s.lastJobIds[0] ? link(`/job/${encodeURIComponent(s.lastJobIds[0])}`, badge) : badge;
    };
    return h('div', {}, status, list.length === 0 ? h('p', { class: 'muted' }, 'No schedule.') : table(['schedule', 'when', 'next tick', 'last tick', 'last outcome', 'problem', ''],
      list.map((s) => {
        const warning = warnings.get(s.id);
        const failed = jobError(s);
        return [h('span', { 'data-schedule': s.id }, s.id), s.cron ? `${s.cron} (${s.timeZone})` : s.everySeconds ? interval(s.everySeconds) : '—',
          s.paused ? h('span', { class: 'badge', 'data-paused': '' }, 'paused') : when(s.nextTickAt), s.lastTickAt ? `${ago(s.lastTickAt)} ago` : '—', outcome(s),
          h('div', {}, s.lastError ? problem(s.lastError, { 'data-last-error': '' }) : null,
            failed ? problem(`last job: ${failed}`, { 'data-job-error': '' }) : null, warning ? problem(`warning: ${warning}`, { 'data-warning': '' }) : null),
          h('span', {}, h('button', { type: 'button', class: 'action', onclick: () => act(s.id, s.paused ? 'resume' : 'pause') }, s.paused ? 'Resume' : 'Pause'), ' ',
            h('button', { type: 'button', class: 'action', onclick: () => act(s.id, 'trigger') }, 'Run now'))];
      }), { id: 'schedules' }));
  }).then((p) => (page = p));
}

export function actionsPage(): Promise<Page> {
  return listPage('Actions taken', async () => {
    const list = await get<{ at: string; actor: string; action: string; target: string; affected: number }[]>('actions');
    return table(['when', 'who', 'what', 'on', 'jobs'], list.map((a) => [when(a.at), a.actor, a.action, a.target === 'selection' ? a.target : link(`/job/${encodeURIComponent(a.target)}`, a.target), String(a.affected)]), { id: 'actions' });
  });
}
