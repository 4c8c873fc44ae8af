import { get, post, qs } from '../api.js';
import { ago, h, link, stateBadge, table } from '../dom.js';
import { showError, type Page } from '../page.js';

interface JobRow { id: string; name: string; jobType: string; queue: string; status: string; createdAt: string; completedAt: string | null; errorMessage: string | null; attempts: number }

const FILTERS = ['status', 'queue', 'type', 'name', 'parent', 'since', 'until', 'payload', 'result', 'location'] as const;

function filterForm(params: URLSearchParams): HTMLFormElement {
  const input = (name: string, placeholder = '') => h('label', {}, name, h('input', { name, value: params.get(name) ?? '', placeholder }));
  const select = (name: string, options: string[]) => h('label', {}, name, h('select', { name },
    options.map((o) => h('option', { value: o, selected: (params.get(name) ?? '') === o }, o || 'any'))));
  const form = h('form', { class: 'filters', id: 'filters' },
    select('status', ['', 'pending', 'running', 'completed', 'failed', 'cancelled']),
    input('queue'), input('type'), input('name', 'prefix'), input('since', '2026-12-07T10:00'), input('until'),
    input('payload', '{"customer":42}'), input('result'),
    select('location', ['', 'live', 'history']),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (typeof v === 'string' && v.trim()) next.set(k, v.trim());
    location.hash = `/jobs${qs(next)}`; // every filter in the URL: the view can be shared
  });
  return form;
}

const row = (j: JobRow) => [
  link(`/job/${encodeURIComponent(j.id)}`, j.name, { 'data-job': j.id }), stateBadge(j.status), j.queue, j.jobType,
  `${ago(j.createdAt)} ago`, j.completedAt ? `${ago(j.completedAt)} ago` : '', j.errorMessage ?? '',
];

async function bulk(kind: 'retry' | 'cancel', filter: URLSearchParams, status: HTMLElement): Promise<void> {
  const { count, more } = await get<{ count: number; more: boolean }>(`jobs/count${qs(filter)}`);
  if (more) return void (status.textContent = 'More than 10,000 jobs match: narrow the filters first.');
  if (count === 0) return void (status.textContent = 'No job matches.');
  if (!confirm(`${kind === 'retry' ? 'Retry' : 'Cancel'} ${count} job${count === 1 ? '' : 's'}?`)) return;
  const body = { filter: Object.fromEntries([...filter].filter(([k]) => (FILTERS as readonly string[]).includes(k))), expectedCount: count };
  const r = await post<{ done: number; skipped: unknown[] }>(`bulk/${kind}`, body);
  status.textContent = `${kind === 'retry' ? 'Retried' : 'Cancelled'} ${r.done}; skipped ${r.skipped.length}.`;
}

export async function jobsPage(params: URLSearchParams): Promise<Page> {
  const filter = new URLSearchParams([...params].filter(([k]) => (FILTERS as readonly string[]).includes(k)));
  const results = h('div', { id: 'results' });
  const status = h('p', { class: 'muted', id: 'bulk-status', role: 'status' });
  let cursor = params.get('after');
  const load = async () => {
    const page = await get<{ jobs: JobRow[]; next: string | null }>(`jobs${qs(new URLSearchParams([...filter, ...(cursor ? [['after', cursor]] : [])]))}`);
    const nextLink = page.next ? h('a', { href: `#/jobs${qs(new URLSearchParams([...filter, ['after', page.next]]))}`, id: 'next-page' }, 'Next page →') : null;
    results.replaceChildren(
      page.jobs.length === 0 ? h('p', { class: 'muted' }, 'No job matches.') : table(['name', 'status', 'queue', 'type', 'created', 'finished', 'error'], page.jobs.map(row), { id: 'jobs' }),
      h('p', {}, cursor ? h('a', { href: `#/jobs${qs(filter)}` }, '← First page') : null, ' ', nextLink));
  };
  await load();
  const bulkButton = (kind: 'retry' | 'cancel') => h('button', {
    type: 'button', class: `action${kind === 'cancel' ? ' danger' : ''}`, id: `bulk-${kind}`,
    onclick: () => void bulk(kind, filter, status).then(load).catch((e) => showError(e, status)),
  }, `${kind === 'retry' ? 'Retry' : 'Cancel'} all matching…`);
  const el = h('section', {}, h('h1', {}, params.get('location') === 'history' ? 'History' : 'Jobs'), filterForm(params),
    h('div', { class: 'actions' }, bulkButton('retry'), bulkButton('cancel')), status, results);
  cursor = params.get('after');
  return { el, refresh: load };
}
