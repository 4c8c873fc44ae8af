import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardHandler, JobManager, type DashboardHandler } from '../../src/index.js';
import { createDatabase, useTestDatabase } from '../support/database.js';
import { agentJob } from '../support/jobs.js';

const db = useTestDatabase();
let jobs: JobManager;
let dash: DashboardHandler;
let csrf: string;

const call = async (path: string, init: RequestInit = {}) => {
  const response = await dash.fetch(new Request(`http://127.0.0.1${path}`, init));
  return { status: response.status, body: (await response.json()) as Record<string, any>, headers: response.headers };
};
const post = (path: string, body: unknown = {}, headers: Record<string, string> = { 'x-taiat-csrf': csrf }) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

beforeAll(async () => {
  jobs = await JobManager.connect({ databaseUrl: db.url });
  dash = await createDashboardHandler({ databaseUrl: db.url });
  csrf = (await call('/api/session')).body.csrfToken;
});
afterAll(async () => {
  await dash.close();
  await jobs.close();
});

describe('dashboard API: reads', () => {
  it('lists jobs newest first in keyset pages, filtered by any field, with every page the same size', async () => {
    await jobs.createJobs(Array.from({ length: 7 }, (_, i) => agentJob(`list-${i}`, 'noop', [], { queue: 'lists', payload: { agent_name: 'noop', customer: i % 2 } })));
    const seen: string[] = [];
    let path = '/api/jobs?queue=lists&limit=3';
    for (;;) {
      const { status, body } = await call(path);
      expect(status).toBe(200);
      seen.push(...body.jobs.map((j: { id: string }) => j.id));
      if (!body.next) break;
      path = `/api/jobs?queue=lists&limit=3&after=${body.next}`;
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const byPayload = await call(`/api/jobs?queue=lists&payload=${encodeURIComponent('{"customer":1}')}`);
    expect(byPayload.body.jobs.map((j: { id: string }) => j.id).sort()).toEqual(['list-1', 'list-3', 'list-5']);
    expect((await call('/api/jobs/count?queue=lists&name=list-')).body).toEqual({ count: 7, more: false });
  });

  it('refuses bad query input with the field and the reason, as the library does', async () => {
    for (const [query, field] of [['status=bogus', 'status'], ['limit=0', 'limit'], ['payload=nope', 'payload'], ['after=xyz', 'after'], ['since=yesterday', 'since'], ['colour=red', 'colour']]) {
      const { status, body } = await call(`/api/jobs?${query}`);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('TAIAT_INVALID_INPUT');
      expect(body.error.field, query).toBe(field);
    }
    const missing = await call('/api/jobs/no-such-job');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TAIAT_JOB_NOT_FOUND');
  });

  it('shows a job with its explanation, its graph both ways, and what its cancellation took down', async () => {
    await jobs.createJobs([agentJob('g-a', 'noop'), agentJob('g-b', 'noop', ['g-a']), agentJob('g-c', 'noop', ['g-b']), agentJob('g-d', 'noop', ['g-b'])]);
    const graph = await call('/api/jobs/g-b/graph?depth=1');
    expect(graph.body.nodes.map((n: { id: string }) => n.id).sort()).toEqual(['g-a', 'g-b', 'g-c', 'g-d']);
    expect(graph.body.edges).toHaveLength(3);
    expect(graph.body.nodes.find((n: { id: string }) => n.id === 'g-a').state).toBe('ready');
    const preview = await call('/api/jobs/g-a/cancel-preview');
    expect(preview.body.total).toBe(3);
    const cancelled = await post('/api/jobs/g-a/cancel');
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.cancelledWithIt).toBe(3);
    const detail = await call('/api/jobs/g-a');
    expect(detail.body.explanation.state).toBe('cancelled');
    expect(detail.body.blastRadius.total).toBe(3);
    expect(detail.body.actions[0]).toMatchObject({ actor: 'local', action: 'cancel', target: 'g-a', affected: 4 });
    const whole = await call('/api/graph/g-d');
    expect(whole.body.nodes.every((n: { state: string }) => n.state === 'cancelled')).toBe(true);
    // Retried with its dependents: all four pending again, the chain blocked on g-a.
    const retried = await post('/api/jobs/g-a/retry', { dependents: true });
    expect(retried.status).toBe(200);
    expect((await jobs.getJob('g-d'))!.status).toBe('pending');
    expect((await call('/api/actions?target=g-a')).body[0]).toMatchObject({ action: 'retry-with-dependents', affected: 4 });
  });

  it('counts finished jobs per minute and per hour for the overview', async () => {
    await jobs.createJob(agentJob('ov-1', 'noop'));
    await jobs.cancelJob('ov-1');
    const { status, body } = await call('/api/overview');
    expect(status).toBe(200);
    expect(body.perMinute).toHaveLength(60);
    expect(body.perHour.length).toBeGreaterThanOrEqual(24);
    expect(body.perMinute.reduce((n: number, b: { cancelled: number }) => n + b.cancelled, 0)).toBeGreaterThanOrEqual(1);
    expect(body.status.pending).toBeDefined();
  });

  it('describes itself in an OpenAPI document, every route of it and nothing else', async () => {
    const { body } = await call('/api/openapi.json');
    expect(body.openapi).toBe('3.1.0');
    // Every documented route answers (not the 404 of an unknown route), with an id where it takes one.
    for (const [path, item] of Object.entries(body.paths as Record<string, Record<string, unknown>>)) {
      const url = path.replace('{id}', 'g-a').replace('{name}', 'no-such-queue');
      for (const method of Object.keys(item)) {
        const response = await dash.fetch(new Request(`http://127.0.0.1${url}`, { method: method.toUpperCase(), headers: { 'x-taiat-csrf': csrf } }));
        const text = await response.text();
        expect(text, `${method} ${path}`).not.toContain('no such route');
      }
    }
    const unknown = await call('/api/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('no such route');
  });
});

describe('dashboard API: actions', () => {
  it('needs the CSRF header from a browser session, and a same-origin request', async () => {
    await jobs.createJob(agentJob('csrf-1', 'noop'));
    const without = await post('/api/jobs/csrf-1/cancel', {}, {});
    expect(without.status).toBe(403);
    expect(without.body.error.code).toBe('TAIAT_FORBIDDEN');
    const crossSite = await post('/api/jobs/csrf-1/cancel', {}, { 'x-taiat-csrf': csrf, origin: 'https://evil.example', host: '127.0.0.1' });
    expect(crossSite.status).toBe(403);
    expect((await jobs.getJob('csrf-1'))!.status).toBe('pending');
  });

  it('bulk actions act on the selection only when it still holds the confirmed count', async () => {
    await jobs.createJobs(Array.from({ length: 4 }, (_, i) => agentJob(`bulk-${i}`, 'noop', [], { queue: 'bulk' })));
    const stale = await post('/api/bulk/cancel', { filter: { queue: 'bulk' }, expectedCount: 3 });
    expect(stale.status).toBe(409);
    expect((await jobs.listJobs({ queue: 'bulk', status: 'pending' })).length).toBe(4);
    const done = await post('/api/bulk/cancel', { filter: { queue: 'bulk' }, expectedCount: 4 });
    expect(done.body).toEqual({ done: 4, skipped: [] });
    const bad = await post('/api/bulk/cancel', { filter: { queue: 'bulk' }, expectedCount: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('body.expectedCount');
  });

  it('read-only refuses every action and changes nothing', async () => {
    const ro = await createDashboardHandler({ databaseUrl: db.url, readOnly: true });
    try {
      await jobs.createJob(agentJob('ro-1', 'noop'));
      const token = (await (await ro.fetch(new Request('http://127.0.0.1/api/session'))).json()) as { csrfToken: string; readOnly: boolean };
      expect(token.readOnly).toBe(true);
      const r = await ro.fetch(new Request('http://127.0.0.1/api/jobs/ro-1/cancel', { method: 'POST', headers: { 'x-taiat-csrf': token.csrfToken } }));
      expect(r.status).toBe(403);
      expect((await jobs.getJob('ro-1'))!.status).toBe('pending');
    } finally {
      await ro.close();
    }
  });
});

describe('dashboard API: the database gone', () => {
  it('answers every route that reads it with 503 TAIAT_DATABASE_UNAVAILABLE, naming no database', async () => {
    const gone = await createDatabase({ migrated: true });
    const handler = await createDashboardHandler({ databaseUrl: gone.url });
    try {
      const get = async (path: string) => {
        const response = await handler.fetch(new Request(`http://127.0.0.1${path}`));
        return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string } } };
      };
      expect((await get('/api/jobs')).status).toBe(200);
      await gone.drop();
      for (const path of ['/api/jobs', '/api/jobs/count', '/api/jobs/some-id', '/api/jobs/some-id/graph', '/api/overview', '/api/queues', '/api/workers', '/api/schedules', '/api/actions']) {
        const r = await get(path);
        expect({ path, status: r.status, code: r.body.error?.code }).toEqual({ path, status: 503, code: 'TAIAT_DATABASE_UNAVAILABLE' });
        expect(r.body.error!.message).not.toContain(gone.name);
      }
    } finally {
      await handler.close();
    }
  });
});

describe('dashboard API: authentication', () => {
  it('with tokens or basic auth configured, refuses anyone without them', async () => {
    const token = 'a-token-of-32-characters-or-so-x';
    const authed = await createDashboardHandler({ databaseUrl: db.url, auth: { tokens: [token], basic: { user: 'ops', password: 'correct horse' } } });
    try {
      const get = (headers: Record<string, string>) => authed.fetch(new Request('http://127.0.0.1/api/session', { headers }));
      const anonymous = await get({});
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain('Basic');
      expect((await get({ authorization: 'Bearer wrong-token-wrong-token-wrong' })).status).toBe(401);
      const bearer = await get({ authorization: `Bearer ${token}` });
      expect(((await bearer.json()) as { actor: string }).actor).toBe('token:a-to');
      const basic = await get({ authorization: `Basic ${Buffer.from('ops:correct horse').toString('base64')}` });
      expect(((await basic.json()) as { actor: string }).actor).toBe('ops');
      expect((await get({ authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` })).status).toBe(401);
      // A script with a bearer token needs no CSRF header: browsers never send the token by themselves.
      await jobs.createJob(agentJob('auth-1', 'noop'));
      const r = await authed.fetch(new Request('http://127.0.0.1/api/jobs/auth-1/cancel', { method: 'POST', headers: { authorization: `Bearer ${token}` } }));
      expect(r.status).toBe(200);
      expect((await call('/api/actions?target=auth-1')).body[0].actor).toBe('token:a-to');
    } finally {
      await authed.close();
    }
  });

  it("a host application's own check decides, and names the actor recorded", async () => {
    const hosted = await createDashboardHandler({
      databaseUrl: db.url,
      auth: { authenticate: (request) => (request.headers.get('cookie') === 'session=alice' ? 'alice' : null) },
    });
    try {
      expect((await hosted.fetch(new Request('http://127.0.0.1/api/session'))).status).toBe(401);
      const session = (await (await hosted.fetch(new Request('http://127.0.0.1/api/session', { headers: { cookie: 'session=alice' } }))).json()) as { actor: string; csrfToken: string };
      expect(session.actor).toBe('alice');
      await jobs.createJob(agentJob('hook-1', 'noop'));
      // A cookie is sent by the browser by itself: the action still needs the CSRF header.
      const cancel = (headers: Record<string, string>) => hosted.fetch(new Request('http://127.0.0.1/api/jobs/hook-1/cancel', { method: 'POST', headers: { cookie: 'session=alice', ...headers } }));
      expect((await cancel({})).status).toBe(403);
      expect((await cancel({ 'x-taiat-csrf': session.csrfToken })).status).toBe(200);
      expect((await call('/api/actions?target=hook-1')).body[0].actor).toBe('alice');
    } finally {
      await hosted.close();
    }
  });

  it('no response carries the database URL or its password', async () => {
    const password = new URL(db.url).password;
    for (const path of ['/api/session', '/api/overview', '/api/workers', '/api/queues', '/api/jobs']) {
      const text = JSON.stringify((await call(path)).body);
      expect(text).not.toContain(new URL(db.url).host);
      if (password) expect(text).not.toContain(password);
    }
  });
});
