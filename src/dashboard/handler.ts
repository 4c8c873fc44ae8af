import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { pino, type Logger } from 'pino';
import { readDatabaseUrlFrom, resolveDatabaseUrl, transactionPoolingFrom } from '../config/database-url.js';
import { parseOptions } from '../config/parse-options.js';
import { resolveSchema } from '../config/schema-name.js';
import { openConnection, openReadConnection, translateDatabaseError } from '../db/connection.js';
import { DatabaseUnavailableError, TaiatError, ValidationError, type TaiatErrorCode } from '../errors.js';
import { JobManager } from '../manager/job-manager.js';
import { schemaNames } from '../store/index.js';
import { actionRoutes } from './action-routes.js';
import type { DashboardApp, DashboardContext } from './context.js';
import { openApiDocument } from './openapi.js';
import { dashboardOptionsSchema, type DashboardOptions } from './options.js';
import { readRoutes } from './read-routes.js';
import { authenticate, csrfGuard, newCsrfToken, type SecurityVariables } from './security.js';

/** The dashboard as a request handler, for `taiat dashboard`, a worker, or a host application's server. */
export interface DashboardHandler {
  /** The Fetch API handler (Hono, Bun, Deno, or any server taking `(Request) => Response`). */
  fetch(request: Request): Promise<Response>;
  /** The Node handler: `http.createServer(handler.node)`, or Express middleware (`next` for paths outside `basePath`). */
  node(req: IncomingMessage, res: ServerResponse, next?: () => void): void;
  /** Closes the dashboard's database pools. */
  close(): Promise<void>;
}

const STATUS_BY_CODE: Partial<Record<TaiatErrorCode, 400 | 401 | 403 | 404 | 409 | 503>> = {
  TAIAT_INVALID_INPUT: 400, TAIAT_CONFIG_INVALID: 400, TAIAT_UNAUTHORIZED: 401, TAIAT_FORBIDDEN: 403,
  TAIAT_JOB_NOT_FOUND: 404, TAIAT_SCHEDULE_NOT_FOUND: 404, TAIAT_INVALID_STATE: 409, TAIAT_DUPLICATE_JOB_ID: 409,
  TAIAT_DEPENDENCY_UNKNOWN: 409, TAIAT_DEPENDENCY_SELF: 409, TAIAT_DEPENDENCY_CYCLE: 409, TAIAT_DEPENDENCY_FAILED: 409,
  TAIAT_DATABASE_UNAVAILABLE: 503, TAIAT_SCHEMA_NOT_CURRENT: 503,
};

// The page's security headers: no script but our own, no framing, nothing sniffed or referred.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The built page: beside this module once built, or in dist/ when running from source. */
function assetsDir(): string {
  const built = fileURLToPath(new URL('./assets/', import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL('../../dist/dashboard/assets/', import.meta.url));
}

const CONTENT_TYPES: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8', 'index.html': 'text/html; charset=utf-8' };

/**
 * Creates the dashboard: its pages and its HTTP API (`/api/...`, described at `/api/openapi.json`),
 * under `basePath`. Credentials (`auth`) are checked on every request when configured; actions
 * need a POST with the CSRF header unless made with a bearer token; `readOnly` refuses them.
 */
export async function createDashboardHandler(options: DashboardOptions & { logger?: Logger } = {}): Promise<DashboardHandler> {
  const { logger, ...rest } = options;
  const opts = parseOptions(dashboardOptionsSchema, rest, 'options');
  const log = logger ?? pino({ level: 'warn' });
  const url = resolveDatabaseUrl({ explicit: opts.databaseUrl });
  const schema = resolveSchema(opts.schema);
  const pooled = transactionPoolingFrom(opts.transactionPooling);
  const readUrl = readDatabaseUrlFrom(opts.readDatabaseUrl);
  const replica = readUrl ? { readDatabaseUrl: readUrl } : {};
  const jobs = await JobManager.connect({ databaseUrl: url, schema, maxConnections: 2, transactionPooling: pooled, ...replica });
  // With a replica the pages read there, and the actions' checks and records keep 2 on the primary.
  const conn = openConnection(url, { max: readUrl ? 2 : opts.maxConnections, applicationName: 'taiat-dashboard', prepare: !pooled });
  const reads = openReadConnection(conn, readUrl, { max: opts.maxConnections, applicationName: 'taiat-dashboard reads', prepare: !pooled });
  const ctx: DashboardContext = {
    sql: conn.sql, reads: reads.sql, t: schemaNames(schema), jobs, readOnly: opts.readOnly, csrfToken: newCsrfToken(), afterAction: [],
  };
  const dir = assetsDir();

  const app: DashboardApp = new Hono<{ Variables: SecurityVariables }>({ strict: false }).basePath(opts.basePath || '/');
  // The read routes query the pools directly: a lost server comes as the driver's error, told
  // here as JobManager tells it (503, not 500), with neither URL's password in the log.
  app.onError((error, c) => errorResponse(translateDatabaseError(translateDatabaseError(error, reads.url), conn.url), c, log));
  app.notFound((c) => c.json({ error: { code: 'TAIAT_INVALID_INPUT', message: `no such route: ${c.req.method} ${c.req.path}` } }, 404));
  app.use('*', authenticate(opts.auth));
  app.use('/api/*', bodyLimit({ maxSize: 64 * 1024, onError: () => { throw new ValidationError('body', 'must be at most 64 KiB'); } }));
  app.use('/api/*', csrfGuard(ctx.csrfToken));
  app.get('/api/openapi.json', (c) => c.json(openApiDocument()));
  readRoutes(app, ctx);
  actionRoutes(app, ctx);
  const page = async (c: Context, file: string) => {
    const body = await readFile(`${dir}${file}`).catch(() => null);
    if (!body) return c.text('the dashboard page is not built: run `npm run build`', 500);
    return c.body(body, 200, { 'content-type': CONTENT_TYPES[file]!, 'cache-control': file === 'index.html' ? 'no-store' : 'max-age=300', ...PAGE_HEADERS });
  };
  app.get('/assets/:file{app\\.(js|css)}', (c) => page(c, c.req.param('file')));
  app.get('/', (c) => (opts.basePath && !new URL(c.req.url).pathname.endsWith('/') ? c.redirect(`${opts.basePath}/`) : page(c, 'index.html')));

  const listener = getRequestListener(app.fetch);
  return {
    fetch: (request) => Promise.resolve(app.fetch(request)),
    node(req, res, next) {
      // Express keeps the full path in originalUrl when mounted under a prefix.
      const full = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      if (next && opts.basePath && !full.startsWith(opts.basePath)) return next();
      req.url = full;
      void listener(req, res);
    },
    async close() {
      await Promise.all([jobs.close(), conn.close(), reads.close()]);
    },
  };
}

function errorResponse(error: unknown, c: Context, log: Logger): Response {
  if (error instanceof TaiatError) {
    const status = STATUS_BY_CODE[error.code] ?? 400;
    // Where the database is is nobody's business on a page: the server's log has it.
    const message = error instanceof DatabaseUnavailableError ? 'the database is unavailable' : error.message;
    if (status >= 500) log.warn({ err: error }, 'dashboard: database unavailable');
    const field = error instanceof ValidationError && error.field ? { field: error.field } : {};
    return c.json({ error: { code: error.code, message, ...field } }, status);
  }
  log.error({ err: error }, 'dashboard: request failed');
  return c.json({ error: { code: 'TAIAT_INTERNAL', message: 'internal error (see the server log)' } }, 500);
}
