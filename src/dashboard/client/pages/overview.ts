import { get } from '../api.js';
import { finishedChart, type Bucket } from '../chart.js';
import { ago, h, link, table } from '../dom.js';
import type { Page } from '../page.js';

interface Overview {
  status: {
    pending: { ready: number; blocked: number; scheduled: number };
    running: { total: number };
    finished: { lastHour: Record<string, number>; lastDay: Record<string, number> };
    oldestReadyWaitSeconds: number;
    workers: { alive: { id: string }[]; lost: { id: string }[] };
    flowControl: { queue: string; paused: boolean }[];
    recentFailures: { id: string; name: string; errorMessage: string | null; completedAt: string }[];
  };
  perMinute: Bucket[];
  perHour: Bucket[];
}

const card = (label: string, n: number | string, key: string, route?: string) =>
  h('div', { class: 'card', 'data-count': key }, h('div', { class: 'n' }, route ? h('a', { href: `#${route}` }, String(n)) : String(n)), h('div', { class: 'label' }, label));

function render(o: Overview): HTMLElement {
  const s = o.status;
  const paused = s.flowControl.filter((q) => q.paused).map((q) => q.queue);
  return h('section', {},
    h('h1', {}, 'Overview'),
    h('div', { class: 'cards' },
      card('ready', s.pending.ready, 'ready', '/jobs?status=pending'),
      card('blocked', s.pending.blocked, 'blocked'),
      card('scheduled', s.pending.scheduled, 'scheduled'),
      card('running', s.running.total, 'running', '/jobs?status=running'),
      card('completed (1 h)', s.finished.lastHour.completed ?? 0, 'completed', '/jobs?status=completed'),
      card('failed (1 h)', s.finished.lastHour.failed ?? 0, 'failed', '/jobs?status=failed'),
      card('cancelled (1 h)', s.finished.lastHour.cancelled ?? 0, 'cancelled', '/jobs?status=cancelled'),
      card('oldest ready wait', `${Math.round(s.oldestReadyWaitSeconds)} s`, 'oldest-wait'),
      card('workers alive', s.workers.alive.length, 'alive', '/workers'),
      card('workers lost', s.workers.lost.length, 'lost', '/workers'),
    ),
    paused.length > 0 ? h('p', { class: 'error' }, `Paused queues: ${paused.join(', ')}`) : null,
    h('h2', {}, 'Finished jobs'),
    finishedChart('per minute, last hour', o.perMinute),
    finishedChart('per hour, last day', o.perHour),
    h('h2', {}, 'Recent failures'),
    s.recentFailures.length === 0 ? h('p', { class: 'muted' }, 'None in the last day.') : table(['job', 'error', 'failed'],
      s.recentFailures.map((f) => [link(`/job/${encodeURIComponent(f.id)}`, f.name, { 'data-job': f.id }), f.errorMessage ?? '', `${ago(f.completedAt)} ago`]), { id: 'recent-failures' }),
  );
}

export async function overviewPage(): Promise<Page> {
  const el = h('div', {}, render(await get<Overview>('overview')));
  return { el, refresh: async () => void el.replaceChildren(render(await get<Overview>('overview'))) };
}
