import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard, type DashboardServer } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';
import { waitFor } from '../support/wait.js';

// The dashboard in a real browser (Debian's chromium, driven by playwright-core): the story of a
// failure found, understood, retried with what it took down, and watched to completion. With
// TAIAT_SCREENSHOTS=1 it also writes the screenshots of docs/dashboard.md.

const CHROMIUM = process.env.TAIAT_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.TAIAT_SCREENSHOTS === '1' ? 'docs/images' : null;
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

const h = useWorkerHarness();
let browser: Browser;
let dashboard: DashboardServer;
let readOnly: DashboardServer;
let failing = true;

/** What the page sees when its tab goes to the background or comes back (a string: run in the page). */
const setVisibility = (page: Page, state: 'hidden' | 'visible') => page.evaluate(`
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => '${state}' });
  document.dispatchEvent(new Event('visibilitychange'));`);

/** Every error the page logs (a failed request, such as a missing favicon, is one) or throws. */
function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} ${m.location().url}`); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/dashboard-${name}.png`, fullPage: false });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set TAIAT_CHROMIUM`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  dashboard = await serveDashboard({ databaseUrl: h.db.url, port: 0 });
  readOnly = await serveDashboard({ databaseUrl: h.db.url, port: 0, readOnly: true });
});
afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await readOnly?.close();
});

describe('the dashboard in a browser', () => {
  it('finds a failure from the overview, shows its graph and blast radius, retries it with its dependents, and watches the graph complete', async () => {
    await h.startWorker({
      agents: {
        noop: () => ({ ok: true }),
        flaky: () => {
          if (failing) throw new Error(`<script>window.__pwned=2</script> upstream said no`);
          return { ok: true };
        },
      },
    });
    await h.jobs.createJobs([
      agentJob('extract', 'noop', [], { payload: { agent_name: 'noop', note: HOSTILE } }),
      agentJob('transform', 'flaky', ['extract'], { name: HOSTILE, maxRetries: 0 }),
      agentJob('load', 'noop', ['transform']),
      agentJob('report', 'noop', ['load']),
    ]);
    await waitFor(async () => (await h.jobs.getJob('report'))?.status === 'cancelled', 'the failure to cascade');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const dialogs: string[] = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.accept(); });
    const errors = consoleErrors(page);
    await page.goto(dashboard.url);
    await page.locator('[data-count="failed"]').waitFor();
    expect(await page.locator('[data-count="failed"] .n').textContent()).toBe('1');
    await shot(page, 'overview');

    // The failed job, found from the overview's recent failures; its name shown as text.
    const failure = page.locator('#recent-failures a[data-job="transform"]');
    expect(await failure.textContent()).toBe(HOSTILE);
    await failure.click();
    await page.locator('#explain').waitFor();
    expect(await page.locator('#explain').textContent()).toContain('upstream said no');
    expect(await page.locator('h1').textContent()).toContain(HOSTILE);
    // The graph: every job of the chain, coloured by state; the blast radius lists what the failure cancelled.
    await expect.poll(() => page.locator('.graph g.node').count()).toBe(4);
    expect(await page.locator('.graph g.node[data-id="transform"]').getAttribute('data-state')).toBe('failed');
    expect(await page.locator('.graph g.node[data-id="report"]').getAttribute('data-state')).toBe('cancelled');
    expect(await page.locator('#blast-radius').textContent()).toContain('2 job(s) cancelled');
    await shot(page, 'job');

    failing = false;
    await page.locator('#retry-dependents').click();
    // Live: the page refreshes by itself until the whole chain completed.
    await expect.poll(() => page.locator('.graph g.node[data-id="report"]').getAttribute('data-state'), { timeout: 20_000 }).toBe('completed');
    expect(await page.locator('.graph g.node[data-state="completed"]').count()).toBe(4);
    expect(await page.locator('#job-actions').textContent()).toContain('retry-with-dependents');

    // Hostile text was only ever text.
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    await page.goto(`${dashboard.url}#/jobs?status=completed`);
    await page.locator('#jobs').waitFor();
    expect(await page.locator('#jobs tbody tr').count()).toBe(4);
    await shot(page, 'jobs');
    await page.goto(`${dashboard.url}#/graph/extract`);
    await page.locator('#graph-timing').waitFor();
    await shot(page, 'graph');
    for (const name of ['queues', 'workers', 'actions']) {
      await page.goto(`${dashboard.url}#/${name}`);
      await page.locator('main h1').waitFor();
      await shot(page, name);
    }
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows each schedule\'s timing, and a schedule that fails or that no worker runs as unhealthy', async () => {
    await h.startWorker({ agents: { noop: () => null, fails: () => { throw new Error('the warehouse is gone'); } } });
    await h.jobs.upsertSchedule('nightly', { cron: '30 2 * * *', timeZone: 'Europe/Paris', job: agentJob('nightly', 'noop') });
    await h.jobs.upsertSchedule('orphan', { every: '5m', job: agentJob('orphan', 'nobody-runs-this') });
    await h.jobs.upsertSchedule('held', { every: 90, paused: true, job: agentJob('held', 'noop') });
    await h.jobs.upsertSchedule('refused', { every: 1, job: agentJob('refused', 'noop', ['no-such-job']) });
    await h.jobs.upsertSchedule('failing', { every: 1, job: agentJob('failing', 'fails', [], { maxRetries: 0 }) });
    await waitFor(async () => (await h.jobs.getSchedule('refused'))?.lastError, 'the refused tick');
    // Paused once it ticked, so no new tick's job is running when the page reads its outcome; through
    // the dashboard, whose action drops the overview's shared reading (the warnings come from it).
    await waitFor(async () => (await h.jobs.getSchedule('failing'))?.lastTickAt, 'a tick');
    const { csrfToken } = await (await fetch(`${dashboard.url}api/session`)).json() as { csrfToken: string };
    expect((await fetch(`${dashboard.url}api/schedules/failing/pause`, { method: 'POST', headers: { 'x-taiat-csrf': csrfToken } })).status).toBe(200);
    await waitFor(async () => (await h.jobs.getSchedule('failing'))?.lastOutcome === 'failed', 'a failed tick');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = consoleErrors(page);
    await page.goto(`${dashboard.url}#/schedules`);
    await page.locator('#schedules').waitFor();
    const row = (id: string) => page.locator('#schedules tbody tr', { has: page.locator(`[data-schedule="${id}"]`) });
    const cell = (id: string, n: number) => row(id).locator('td').nth(n).textContent();
    expect(await cell('nightly', 1)).toBe('30 2 * * * (Europe/Paris)');
    expect(await cell('orphan', 1)).toBe('every 5m');
    expect(await cell('held', 1)).toBe('every 90s');
    expect(await cell('held', 2)).toBe('paused');
    expect(await cell('nightly', 2)).not.toBe('—');
    expect(await page.locator('#schedules').textContent()).not.toMatch(/undefined|null|NaN|Invalid Date/);
    // Unhealthy: the refused tick's reason and the failed tick's outcome, in red; the orphan's warning.
    expect(await row('refused').locator('[data-last-error]').textContent()).toMatch(/unknown dependency/);
    expect(await row('refused').locator('[data-last-error]').getAttribute('class')).toBe('error');
    expect(await row('failing').locator('[data-state]').getAttribute('data-state')).toBe('failed');
    expect(await row('failing').locator('[data-job-error]').textContent()).toBe('last job: the warehouse is gone');
    expect(await row('orphan').locator('[data-warning]').textContent()).toBe("warning: no live worker runs agent 'nobody-runs-this'");
    expect(await row('nightly').locator('.error').count()).toBe(0);
    expect(await row('held').locator('.error').count()).toBe(0);
    await shot(page, 'schedules');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('read-only shows no action and refuses one sent anyway; a POST without the CSRF header is refused', async () => {
    await h.jobs.createJobs([agentJob('ro-a', 'nobody-runs-this', [], { maxRetries: 0 })]);
    const page = await browser.newPage();
    await page.goto(`${readOnly.url}#/job/ro-a`);
    await page.locator('#explain').waitFor();
    expect(await page.locator('#cancel').isVisible()).toBe(false);
    const status = await page.evaluate(async () => {
      const session = await (await fetch('api/session')).json() as { csrfToken: string };
      return (await fetch('api/jobs/ro-a/cancel', { method: 'POST', headers: { 'x-taiat-csrf': session.csrfToken } })).status;
    });
    expect(status).toBe(403);
    await page.goto(`${dashboard.url}#/job/ro-a`);
    await page.locator('#cancel').waitFor();
    const noToken = await page.evaluate(async () => (await fetch('api/jobs/ro-a/cancel', { method: 'POST' })).status);
    expect(noToken).toBe(403);
    expect((await h.jobs.getJob('ro-a'))!.status).toBe('pending');
    await page.close();
  });

  it('refreshes a page every 5 s while it is seen, and stops in a background tab or when paused', async () => {
    const page = await browser.newPage();
    const overviewCalls: number[] = [];
    page.on('request', (r) => { if (r.url().endsWith('/api/overview')) overviewCalls.push(Date.now()); });
    await page.goto(dashboard.url);
    await page.locator('[data-count="ready"]').waitFor();
    await expect.poll(() => overviewCalls.length, { timeout: 8_000 }).toBeGreaterThanOrEqual(2);
    // The tab goes to the background: no request while hidden.
    await setVisibility(page, 'hidden');
    const hiddenAt = overviewCalls.length;
    await new Promise((r) => setTimeout(r, 6_000));
    expect(overviewCalls.length).toBe(hiddenAt);
    // Back in front: it refreshes at once; the Live button pauses it.
    await setVisibility(page, 'visible');
    await expect.poll(() => overviewCalls.length).toBe(hiddenAt + 1);
    await page.locator('#live').click();
    expect(await page.locator('#live').getAttribute('aria-pressed')).toBe('false');
    const pausedAt = overviewCalls.length;
    await new Promise((r) => setTimeout(r, 6_000));
    expect(overviewCalls.length).toBe(pausedAt);
    await page.close();
  });

  it('behind basic auth, the browser is asked for the password and the page works with it', async () => {
    const locked = await serveDashboard({ databaseUrl: h.db.url, port: 0, auth: { basic: { user: 'ops', password: 'correct horse' } } });
    try {
      const anonymous = await browser.newContext();
      // Headless chromium cannot show the password prompt: the challenge alone fails the navigation.
      await expect((await anonymous.newPage()).goto(locked.url)).rejects.toThrow(/AUTH/);
      expect((await anonymous.request.get(`${locked.url}api/session`)).status()).toBe(401);
      await anonymous.close();
      const context = await browser.newContext({ httpCredentials: { username: 'ops', password: 'correct horse' } });
      const page = await context.newPage();
      await page.goto(locked.url);
      await page.locator('[data-count="ready"]').waitFor();
      expect(await page.locator('nav .who').textContent()).toContain('ops');
      await context.close();
    } finally {
      await locked.close();
    }
  });

  it('draws a whole graph of 2,000 jobs and 3,000 links within seconds', async () => {
    // 20 layers of 100, linked into one graph: each job after the first layer depends on two jobs
    // of the layer before (even ones) or one (odd ones): 2,850 links.
    const jobs = [];
    for (let l = 0; l < 20; l++) {
      for (let i = 0; i < 100; i++) {
        const deps = l === 0 ? [] : i % 2 === 0 ? [`big-${l - 1}-${i}`, `big-${l - 1}-${i + 1}`] : [`big-${l - 1}-${(i + 1) % 100}`];
        jobs.push(agentJob(`big-${l}-${i}`, 'nobody-runs-this', deps, { queue: 'big' }));
      }
    }
    await h.jobs.createJobs(jobs);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const t0 = Date.now();
    await page.goto(`${dashboard.url}#/graph/big-0-0`);
    await page.locator('#graph-timing').waitFor({ timeout: 30_000 });
    const ms = Date.now() - t0;
    const timing = await page.locator('#graph-timing').evaluate((el) => ({ fetch: Number(el.getAttribute('data-fetch-ms')), layout: Number(el.getAttribute('data-layout-ms')) }));
    expect(await page.locator('.graph g.node').count()).toBe(2000);
    console.log(`graph of 2,000 jobs: shown in ${ms} ms (read ${timing.fetch} ms, layout ${timing.layout} ms)`);
    expect(ms).toBeLessThan(10_000); // the figure is in docs/dashboard.md; this bound only catches a regression of kind
    await page.close();
  });
});
