import type { Context } from 'hono';
import { parseOptions } from '../config/parse-options.js';
import { ForbiddenError, InvalidStateError, TaiatError } from '../errors.js';
import type { JsonValue } from '../jobs/model.js';
import { readBlastRadius, recordAction, selectJobIds } from '../store/index.js';
import type { DashboardApp, DashboardContext } from './context.js';
import type { SecurityVariables } from './security.js';
import { bulkBodySchema, jsonBody, retryBodySchema, toJobFilter } from './requests.js';

type C = Context<{ Variables: SecurityVariables }>;

/** The POST routes: each refused in read-only mode, and each recorded (who, what, on what, when). */
export function actionRoutes(app: DashboardApp, ctx: DashboardContext): void {
  const { sql, t, jobs } = ctx;
  const record = async (c: C, action: string, target: string, affected: number, detail: Record<string, JsonValue> = {}) => {
    for (const changed of ctx.afterAction) changed();
    await recordAction(sql, t, { actor: c.get('actor'), action, target, affected, detail });
  };

  const cancelledBecauseOf = async (id: string) => (await readBlastRadius(sql, t, id, 0)).total;

  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'POST' && ctx.readOnly) throw new ForbiddenError('this dashboard is read-only');
    return next();
  });

  app.post('/api/jobs/:id/retry', async (c) => {
    const { dependents } = parseOptions(retryBodySchema, await jsonBody(c.req.raw), 'body');
    const id = c.req.param('id');
    // What comes back with it: the jobs its failure cancelled (counted before they leave history).
    const back = dependents ? await cancelledBecauseOf(id) : 0;
    const job = await jobs.retryJob(id, { dependents });
    await record(c, dependents ? 'retry-with-dependents' : 'retry', id, 1 + back);
    return c.json({ job });
  });

  app.post('/api/jobs/:id/cancel', async (c) => {
    const id = c.req.param('id');
    const job = await jobs.cancelJob(id);
    const withIt = await cancelledBecauseOf(id);
    await record(c, 'cancel', id, 1 + withIt);
    return c.json({ job, cancelledWithIt: withIt });
  });

  for (const kind of ['retry', 'cancel'] as const) {
    app.post(`/api/bulk/${kind}`, async (c) => {
      const body = parseOptions(bulkBodySchema, await jsonBody(c.req.raw), 'body');
      const selected = await selectJobIds(sql, t, toJobFilter(body.filter), 10_000);
      if (selected.length !== body.expectedCount) {
        throw new InvalidStateError('', 'changed', `the selection now holds ${selected.length > 10_000 ? 'more than 10000' : selected.length} jobs, not ${body.expectedCount}: look at it again`);
      }
      let done = 0;
      const skipped: { id: string; reason: string }[] = [];
      for (const { id } of selected) {
        try {
          if (kind === 'retry') await jobs.retryJob(id, { dependents: body.dependents });
          else await jobs.cancelJob(id);
          done++;
        } catch (error) {
          // An earlier job of the selection may have settled this one (a cascade, a retry with dependents).
          if (!(error instanceof TaiatError)) throw error;
          skipped.push({ id, reason: error.message });
        }
      }
      const filter = JSON.parse(JSON.stringify(body.filter)) as Record<string, JsonValue>;
      await record(c, `bulk-${kind}`, 'selection', done, { filter, confirmed: body.expectedCount, skipped: skipped.length });
      return c.json({ done, skipped });
    });
  }

  for (const [verb, call] of [['pause', (n: string) => jobs.pauseQueue(n)], ['resume', (n: string) => jobs.resumeQueue(n)]] as const) {
    app.post(`/api/queues/:name/${verb}`, async (c) => {
      const name = c.req.param('name');
      const queue = await call(name);
      await record(c, `${verb}-queue`, name, 0);
      return c.json(queue);
    });
  }

  const scheduleCalls = {
    pause: (id: string) => jobs.pauseSchedule(id),
    resume: (id: string) => jobs.resumeSchedule(id),
    trigger: async (id: string) => ({ jobIds: await jobs.triggerSchedule(id) }),
  };
  for (const [verb, call] of Object.entries(scheduleCalls)) {
    app.post(`/api/schedules/:id/${verb}`, async (c) => {
      const id = c.req.param('id');
      const result = await call(id);
      await record(c, `${verb}-schedule`, id, 'jobIds' in result ? result.jobIds.length : 0);
      return c.json(result);
    });
  }
}
