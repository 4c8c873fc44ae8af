import 'uplot/dist/uPlot.min.css';
import './style.css';
import { getSession } from './api.js';
import { showError, type Page } from './page.js';
import { h, link } from './dom.js';
import { overviewPage } from './pages/overview.js';
import { jobsPage } from './pages/jobs.js';
import { jobPage } from './pages/job.js';
import { graphPage } from './pages/graph.js';
import { actionsPage, queuesPage, schedulesPage, workersPage } from './pages/lists.js';

interface Route {
  path: string[];
  params: URLSearchParams;
}

const POLL_MS = 5000;
const main = h('main', { id: 'page' });
const liveButton = h('button', { id: 'live', type: 'button', title: 'Pause or resume the refresh every 5 seconds' }, 'Live');
let current: Page | undefined;
let paused = false;
let timer: ReturnType<typeof setTimeout> | undefined;

function parseRoute(): Route {
  const [path = '/', query = ''] = location.hash.replace(/^#/, '').split('?');
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

async function pageFor(route: Route): Promise<Page> {
  const [section, id] = route.path;
  switch (section) {
    case undefined: return overviewPage();
    case 'jobs': return jobsPage(route.params);
    case 'job': return jobPage(id ?? '');
    case 'graph': return graphPage(id ?? '');
    case 'queues': return queuesPage();
    case 'workers': return workersPage();
    case 'schedules': return schedulesPage();
    case 'actions': return actionsPage();
    default: return { el: h('p', {}, 'No such page.') };
  }
}

async function render(): Promise<void> {
  clearTimeout(timer);
  try {
    current = await pageFor(parseRoute());
    main.replaceChildren(current.el);
  } catch (error) {
    current = undefined;
    showError(error, main);
  }
  schedule();
}

function schedule(): void {
  clearTimeout(timer);
  // A tab in the background polls nothing; it looks again when it comes back.
  if (paused || document.visibilityState !== 'visible' || !current?.refresh) return;
  timer = setTimeout(async () => {
    await current?.refresh?.().catch(() => undefined);
    schedule();
  }, POLL_MS);
}

function setLive(): void {
  liveButton.textContent = paused ? 'Paused: resume' : 'Live: pause';
  liveButton.setAttribute('aria-pressed', String(!paused));
  liveButton.classList.toggle('paused', paused);
}

async function start(): Promise<void> {
  const session = await getSession().catch(() => null);
  const nav = h('nav', {},
    h('strong', {}, 'taiat'),
    link('/', 'Overview'), link('/jobs', 'Jobs'), link('/jobs?location=history', 'History'), link('/queues', 'Queues'),
    link('/workers', 'Workers'), link('/schedules', 'Schedules'), link('/actions', 'Actions'),
    h('span', { class: 'spacer' }),
    session ? h('span', { class: 'who' }, `${session.actor}${session.readOnly ? ' · read-only' : ''} · ${session.schema}`) : null,
    liveButton);
  liveButton.addEventListener('click', () => {
    paused = !paused;
    setLive();
    if (!paused) void current?.refresh?.();
    schedule();
  });
  setLive();
  document.body.replaceChildren(nav, main);
  if (session?.readOnly) document.body.classList.add('read-only');
  window.addEventListener('hashchange', () => void render());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && !paused) void current?.refresh?.();
    schedule();
  });
  await render();
}

void start();
