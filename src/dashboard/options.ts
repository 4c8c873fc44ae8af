import { z } from 'zod';
import { postgresUrlOption } from '../config/database-url.js';

/** Who may use the dashboard, besides a loopback server with no credentials set. */
export interface DashboardAuth {
  /** Bearer tokens accepted (`Authorization: Bearer <token>`); the actor recorded is `token:<first 4 characters>`. */
  tokens?: string[];
  /** One user for HTTP basic auth (a browser asks for it). */
  basic?: { user: string; password: string };
  /**
   * The host application's own check, when the handler is mounted in it: return the actor's name
   * to let the request through, or null to refuse it (401). Runs before tokens and basic auth.
   */
  authenticate?: (request: Request) => string | null | Promise<string | null>;
}

export interface DashboardOptions {
  /** Default: `TAIAT_DATABASE_URL`, then `DATABASE_URL`. */
  databaseUrl?: string;
  /** The schema of the taiat instance (default: `TAIAT_SCHEMA`, then `public`). */
  schema?: string;
  /** Serve pages and reads only: actions are hidden and refused (403). */
  readOnly?: boolean;
  /** The path the handler is mounted under in a host server, e.g. `/admin/jobs` (default: none). */
  basePath?: string;
  auth?: DashboardAuth;
  /** Pool size of the dashboard's reads (default 5). */
  maxConnections?: number;
  /** `databaseUrl` goes through a pooler in transaction mode (default: `TAIAT_TRANSACTION_POOLING`). */
  transactionPooling?: boolean;
  /**
   * A read replica for the pages' reads (overview, lists, jobs, graphs, the cancel preview);
   * actions and their checks stay on `databaseUrl` (default: `TAIAT_READ_DATABASE_URL`).
   */
  readDatabaseUrl?: string;
}

const basePath = z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'must be empty or like /admin/jobs (no trailing slash)').default('');

export const dashboardOptionsSchema = z.strictObject({
  databaseUrl: z.string().min(1).optional(),
  schema: z.string().optional(),
  readOnly: z.boolean().default(false),
  basePath,
  auth: z.strictObject({
    tokens: z.array(z.string().min(16, 'each token must be at least 16 characters')).optional(),
    basic: z.strictObject({ user: z.string().min(1), password: z.string().min(8, 'must be at least 8 characters') }).optional(),
    authenticate: z.custom<DashboardAuth['authenticate']>((f) => typeof f === 'function', 'must be a function').optional(),
  }).optional(),
  maxConnections: z.number().int().min(1).max(100).default(5),
  transactionPooling: z.boolean().optional(),
  readDatabaseUrl: postgresUrlOption('readDatabaseUrl').optional(),
});

/** Whether any credentials are configured (a server off loopback refuses to start without). */
export function hasAuth(auth: DashboardAuth | undefined): boolean {
  return Boolean(auth && ((auth.tokens?.length ?? 0) > 0 || auth.basic || auth.authenticate));
}

/** Credentials from the environment: `TAIAT_DASHBOARD_TOKENS` (comma-separated), `TAIAT_DASHBOARD_USER` and `TAIAT_DASHBOARD_PASSWORD`. */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): DashboardAuth | undefined {
  const tokens = (env.TAIAT_DASHBOARD_TOKENS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const user = env.TAIAT_DASHBOARD_USER;
  const password = env.TAIAT_DASHBOARD_PASSWORD;
  const auth: DashboardAuth = {
    ...(tokens.length > 0 ? { tokens } : {}),
    ...(user && password ? { basic: { user, password } } : {}),
  };
  return hasAuth(auth) ? auth : undefined;
}
