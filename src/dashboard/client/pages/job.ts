import { get, post } from '../api.js';
import { ago, append, h, link, pretty, stateBadge, table, when } from '../dom.js';
import { drawGraph, type Graph } from '../graph-view.js';
import { showError, type Page } from '../page.js';

interface JobDetail {
  job: Record<string, unknown> & {
    id: string; name: string; status: string; queue: string; jobType: string; payload: unknown; result: unknown; dependencies: string[];
    parentId: string | null; createdAt: string; runAt: string; startedAt: string | null; completedAt: string | null; attempts: number;
    maxRetries: number; workerId: string | null; errorMessage: string | null; attemptErrors: { attempt: number; error: string; at: string; workerId: string | null }[];
    progress: { percent: number | null; details: Record<string, unknown> | null } | null;
  };
  explanation: { state: string; summary: string; cause: { id: string; name: string } | null };
  children: { id: string; name: string; status: string }[];
  blastRadius: { total: number; jobs: { id: string; name: string; status: string }[] } | null;
  actions: { at: string; actor: string; action: string; affected: number }[];
}

const jobLink = (id: string, text?: string) => link(`/job/${encodeURIComponent(id)}`, text ?? id, { 'data-job': id });

// Shown in sections of their own below the table.
const SECTIONED = new Set(['payload', 'result', 'attemptErrors', 'dependencies', 'name', 'progress']);

/** The last progress the job reported (`ctx.progress`): a bar for the percentage, the details as text. */
function progress(p: NonNullable<JobDetail['job']['progress']>, running: boolean): HTMLElement {
  const details = p.details === null ? '' : Object.entries(p.details).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ');
  return h('p', { id: 'progress' }, running ? 'Progress: ' : 'Last progress: ',
    p.percent === null ? null : h('progress', { max: '100', value: String(p.percent) }),
    ` ${p.percent === null ? '' : `${p.percent}%`}${details ? ` ${details}` : ''}`);
}

/** Every field of the job, as stored (times in local time). */
function fields(j: JobDetail['job']): HTMLElement {
  const show = (v: unknown) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? when(v) : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const rows = Object.entries(j).filter(([k, v]) => !SECTIONED.has(k) && v !== null && v !== undefined && v !== '');
  return table(['field', 'value'], [...rows.map(([k, v]) => [k, show(v)]), ['dependencies', j.dependencies.length ? j.dependencies.join(', ') : '—']], { id: 'fields' });
}

function timeline(j: JobDetail['job']): HTMLElement {
  const steps: [string, string | null][] = [['created', j.createdAt], ['may run from', j.runAt], ['started (last attempt)', j.startedAt], ['finished', j.completedAt]];
  return h('ol', { id: 'timeline' }, steps.filter(([, d]) => d).map(([what, d]) => h('li', {}, `${what}: ${when(d)} (${ago(d)} ago)`)));
}

async function act(status: HTMLElement, what: () => Promise<unknown>, reload: () => Promise<void>): Promise<void> {
  try {
    await what();
    await reload();
  } catch (error) {
    showError(error, status);
  }
}

export async function jobPage(id: string): Promise<Page> {
  const el = h('section', {});
  let depth = 2;
  const load = async () => {
    const path = encodeURIComponent(id);
    const [d, graph] = await Promise.all([get<JobDetail>(`jobs/${path}`), get<Graph>(`jobs/${path}/graph?depth=${depth}`)]);
    const j = d.job;
    const status = h('p', { class: 'muted', id: 'action-status', role: 'status' });
    const finishedBadly = j.status === 'failed' || j.status === 'cancelled';
    const buttons = h('div', { class: 'actions' },
      finishedBadly ? h('button', { type: 'button', class: 'action', id: 'retry', onclick: () => void act(status, () => post(`jobs/${path}/retry`, {}), load) }, 'Retry') : null,
      finishedBadly ? h('button', { type: 'button', class: 'action', id: 'retry-dependents', onclick: () => void act(status, () => post(`jobs/${path}/retry`, { dependents: true }), load) }, `Retry with dependents${d.blastRadius ? ` (${d.blastRadius.total})` : ''}`) : null,
      j.status === 'pending' || j.status === 'running' ? h('button', {
        type: 'button', class: 'action danger', id: 'cancel',
        onclick: () => void act(status, async () => {
          const preview = await get<{ total: number }>(`jobs/${path}/cancel-preview`);
          if (confirm(`Cancel ${j.name}${preview.total ? ` and ${preview.total} job(s) that depend on it` : ''}?`)) await post(`jobs/${path}/cancel`);
        }, load),
      }, 'Cancel…') : null);
    const drawn = drawGraph(graph, id, (other) => { location.hash = `/job/${encodeURIComponent(other)}`; });
    el.replaceChildren();
    append(el, [
      h('h1', {}, j.name, ' ', stateBadge(d.explanation.state)),
      h('p', { class: 'summary', id: 'explain' }, d.explanation.summary),
      j.progress ? progress(j.progress, j.status === 'running') : null,
      d.explanation.cause ? h('p', {}, 'Because of: ', jobLink(d.explanation.cause.id, d.explanation.cause.name)) : null,
      buttons, status,
      h('h2', {}, `Graph (${graph.nodes.length} jobs within ${depth} steps)`),
      h('div', { class: 'actions' },
        graph.truncated ? h('button', { type: 'button', id: 'deeper', onclick: () => { depth += 2; void load(); } }, 'Show more') : null,
        h('a', { href: `#/graph/${path}` }, 'Whole graph')),
      drawn.el,
      d.blastRadius && d.blastRadius.total > 0 ? h('div', { id: 'blast-radius' }, h('h2', {}, `Blast radius: ${d.blastRadius.total} job(s) cancelled because of it`),
        table(['job', 'status'], d.blastRadius.jobs.map((b) => [jobLink(b.id, b.name), stateBadge(b.status)]))) : null,
      h('h2', {}, 'Fields'), fields(j),
      h('h2', {}, 'Timeline'), timeline(j),
      h('h2', {}, 'Payload'), pretty(j.payload),
      h('h2', {}, 'Result'), pretty(j.result),
      h('h2', {}, 'Attempts'), j.attemptErrors.length === 0 ? h('p', { class: 'muted' }, 'No failed attempt.')
        : table(['attempt', 'error', 'worker', 'when'], j.attemptErrors.map((a) => [String(a.attempt), a.error, a.workerId ?? '', when(a.at)]), { id: 'attempts' }),
      h('h2', {}, 'Parent and children'),
      h('p', {}, j.parentId ? ['Parent: ', jobLink(j.parentId)] : 'No parent.'),
      d.children.length ? table(['child', 'status'], d.children.map((c) => [jobLink(c.id, c.name), stateBadge(c.status)])) : null,
      h('h2', {}, 'Actions taken'),
      d.actions.length === 0 ? h('p', { class: 'muted' }, 'None.') : table(['when', 'who', 'what', 'jobs'], d.actions.map((a) => [when(a.at), a.actor, a.action, String(a.affected)]), { id: 'job-actions' }),
    ]);
  };
  await load();
  return { el, refresh: load };
}
