import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardHandler, serveDashboard, type DashboardHandler } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';

const db = useTestDatabase();

const listen = (server: ReturnType<typeof createServer>) =>
  new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

describe('serving the dashboard', () => {
  it('listens on 127.0.0.1 by default, and refuses another address without credentials', async () => {
    const server = await serveDashboard({ databaseUrl: db.url, port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(server.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await page.text();
      expect(html).toContain('assets/app.js');
      expect(html).not.toContain(new URL(db.url).host);
      expect((await fetch(`${server.url}assets/app.js`)).status).toBe(200);
    } finally {
      await server.close();
    }
    await expect(serveDashboard({ databaseUrl: db.url, host: '0.0.0.0', port: 0 })).rejects.toMatchObject({ code: 'TAIAT_CONFIG_INVALID' });
    const withToken = await serveDashboard({ databaseUrl: db.url, host: '0.0.0.0', port: 0, auth: { tokens: ['a-token-of-32-characters-or-so-x'] } });
    try {
      expect((await fetch(withToken.url.replace('0.0.0.0', '127.0.0.1'))).status).toBe(401);
    } finally {
      await withToken.close();
    }
  });

  it('refuses bad options, naming the field', async () => {
    await expect(createDashboardHandler({ databaseUrl: db.url, basePath: 'admin/' })).rejects.toMatchObject({ code: 'TAIAT_INVALID_INPUT', field: 'options.basePath' });
    await expect(createDashboardHandler({ databaseUrl: db.url, auth: { tokens: ['short'] } })).rejects.toMatchObject({ field: 'options.auth.tokens.0' });
  });
});

describe('mounted in a host application under a path', () => {
  let handler: DashboardHandler;
  beforeAll(async () => {
    handler = await createDashboardHandler({ databaseUrl: db.url, basePath: '/admin/jobs' });
  });
  afterAll(async () => {
    await handler.close();
  });

  it('in a plain node:http server, beside the host\'s own routes', async () => {
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/admin/jobs')) return handler.node(req, res);
      res.end('the host app');
    });
    const base = await listen(server);
    try {
      expect(await (await fetch(`${base}/`)).text()).toBe('the host app');
      const session = await fetch(`${base}/admin/jobs/api/session`);
      expect(session.status).toBe(200);
      expect(((await session.json()) as { schema: string }).schema).toBe('public');
      const redirect = await fetch(`${base}/admin/jobs`, { redirect: 'manual' });
      expect(redirect.status).toBe(302);
      expect(redirect.headers.get('location')).toBe('/admin/jobs/');
      expect((await fetch(`${base}/admin/jobs/`)).headers.get('content-type')).toContain('text/html');
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  it('in a Hono application, through its fetch handler', async () => {
    const app = new Hono();
    app.get('/', (c) => c.text('the host app'));
    app.all('/admin/jobs/*', (c) => handler.fetch(c.req.raw));
    app.all('/admin/jobs', (c) => handler.fetch(c.req.raw));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${base}/`)).text()).toBe('the host app');
      const jobs = await fetch(`${base}/admin/jobs/api/jobs?limit=1`);
      expect(jobs.status).toBe(200);
      expect(await jobs.json()).toEqual({ jobs: [], next: null });
    } finally {
      server.close();
    }
  });
});
