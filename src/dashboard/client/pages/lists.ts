import { get, post } from '../api.js';
import { ago, h, link, table, when } from '../dom.js';
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

interface Schedule { id: string; cron: string; timezone: string; paused: boolean; nextTickAt: string | null; lastTickAt: string | null }

export function schedulesPage(): Promise<Page> {
  const status = h('p', { class: 'muted', role: 'status' });
  let page: Page;
  const act = (id: string, verb: string) => void post(`schedules/${encodeURIComponent(id)}/${verb}`).then(() => page.refresh?.()).catch((e) => showError(e, status));
  return listPage('Schedules', async () => {
    const list = await get<Schedule[]>('schedules');
    return h('div', {}, status, list.length === 0 ? h('p', { class: 'muted' }, 'No schedule.') : table(['schedule', 'cron', 'next tick', 'last tick', ''],
      list.map((s) => [s.id, `${s.cron} (${s.timezone})`, s.paused ? 'paused' : when(s.nextTickAt), when(s.lastTickAt),
        h('span', {}, h('button', { type: 'button', class: 'action', onclick: () => act(s.id, s.paused ? 'resume' : 'pause') }, s.paused ? 'Resume' : 'Pause'), ' ',
          h('button', { type: 'button', class: 'action', onclick: () => act(s.id, 'trigger') }, 'Run now'))]), { id: 'schedules' }));
  }).then((p) => (page = p));
}

export function actionsPage(): Promise<Page> {
  return listPage('Actions taken', async () => {
    const list = await get<{ at: string; actor: string; action: string; target: string; affected: number }[]>('actions');
    return table(['when', 'who', 'what', 'on', 'jobs'], list.map((a) => [when(a.at), a.actor, a.action, a.target === 'selection' ? a.target : link(`/job/${encodeURIComponent(a.target)}`, a.target), String(a.affected)]), { id: 'actions' });
  });
}
