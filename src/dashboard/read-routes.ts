import { parseOptions } from '../config/parse-options.js';
import { JobNotFoundError } from '../errors.js';
import {
  explainJob, readActions, readBlastRadius, readCancelPreview, readFinishedSeries, readJobGraph, rollUpFinishedMinutes, searchJobs, selectJobIds,
} from '../store/index.js';
import { readStatus } from '../status/status.js';
import { VERSION } from '../version.js';
import type { DashboardApp, DashboardContext } from './context.js';
import { graphQuerySchema, parseJobListQuery, wholeGraphQuerySchema } from './requests.js';
import { Snapshot } from './snapshot.js';

/** The GET routes: everything the pages show. */
export function readRoutes(app: DashboardApp, ctx: DashboardContext): void {
  const { reads, t } = ctx;

  app.get('/api/session', (c) => c.json({ actor: c.get('actor'), readOnly: ctx.readOnly, csrfToken: ctx.csrfToken, schema: t.schema, version: VERSION }));

  // Counts of every live job: shared readings (see Snapshot), not a count per request.
  const overview = new Snapshot(async () => {
    // Best effort: a reader without write rights still gets the figures (the last minutes counted from history).
    // The roll-up writes: on the primary, whatever the pages read from.
    await rollUpFinishedMinutes(ctx.sql, t).catch(() => undefined);
    const [status, perMinute, perHour] = await Promise.all([
      readStatus(reads, { schema: t.schema }),
      readFinishedSeries(reads, t, 60, 1),
      readFinishedSeries(reads, t, 24 * 60, 60),
    ]);
    return { status, perMinute, perHour };
  });
  const queues = new Snapshot(async () => ({ queues: await ctx.jobs.listQueues() }));
  ctx.afterAction.push(() => {
    overview.invalidate();
    queues.invalidate();
  });

  app.get('/api/overview', async (c) => c.json(await overview.get()));

  app.get('/api/jobs', async (c) => {
    const { filter, limit, after } = parseJobListQuery(c.req.query());
    return c.json(await searchJobs(reads, t, filter, limit, after));
  });

  // How many jobs a filter selects (what a bulk action will confirm), counted up to 10,000.
  app.get('/api/jobs/count', async (c) => {
    const { filter } = parseJobListQuery(c.req.query());
    const ids = await selectJobIds(reads, t, filter, 10_000);
    return c.json({ count: Math.min(ids.length, 10_000), more: ids.length > 10_000 });
  });

  app.get('/api/jobs/:id', async (c) => {
    const id = c.req.param('id');
    const explanation = await explainJob(reads, t, id);
    if (!explanation) throw new JobNotFoundError(id);
    const finishedBadly = explanation.state === 'failed' || explanation.state === 'cancelled';
    const [children, blastRadius, actions] = await Promise.all([
      searchJobs(reads, t, { parentId: id }, 100),
      finishedBadly ? readBlastRadius(reads, t, id, 200) : null,
      readActions(reads, t, { target: id, limit: 100 }),
    ]);
    return c.json({ job: explanation.job, explanation, children: children.jobs, blastRadius, actions });
  });

  app.get('/api/jobs/:id/graph', async (c) => {
    const q = parseOptions(graphQuerySchema, c.req.query(), '');
    const graph = await readJobGraph(reads, t, c.req.param('id'), { depth: q.depth, maxNodes: q.max });
    if (!graph) throw new JobNotFoundError(c.req.param('id'));
    return c.json(graph);
  });

  // A whole graph: every job linked to this one, however far (bounded by `max`).
  app.get('/api/graph/:id', async (c) => {
    const q = parseOptions(wholeGraphQuerySchema, c.req.query(), '');
    const graph = await readJobGraph(reads, t, c.req.param('id'), { depth: 100_000, maxNodes: q.max });
    if (!graph) throw new JobNotFoundError(c.req.param('id'));
    return c.json(graph);
  });

  // Read on the replica, so its count may be a moment old; the cancel itself decides on the primary.
  app.get('/api/jobs/:id/cancel-preview', async (c) => c.json(await readCancelPreview(reads, t, c.req.param('id'), 200)));

  app.get('/api/queues', async (c) => c.json((await queues.get()).queues));

  app.get('/api/workers', async (c) => {
    const { status } = await overview.get();
    return c.json({ ...status.workers, running: status.running.byWorker, generatedAt: status.generatedAt });
  });

  app.get('/api/schedules', async (c) => c.json(await ctx.jobs.listSchedules()));

  app.get('/api/actions', async (c) => c.json(await readActions(reads, t, { target: c.req.query('target') || undefined, limit: 200 })));
}
