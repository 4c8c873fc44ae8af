import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { TaiatError } from '../errors.js';
import { createDashboardHandler } from './handler.js';
import { authFromEnv, hasAuth, type DashboardOptions } from './options.js';

export interface ServeDashboardOptions extends DashboardOptions {
  /** Default 127.0.0.1. Any other address needs `auth` (or its environment variables). */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  logger?: Logger;
}

export interface DashboardServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Serves the dashboard on its own HTTP server. Bound to 127.0.0.1 unless told otherwise; on any
 * other address it refuses to start without credentials (`auth`, else `TAIAT_DASHBOARD_TOKENS` /
 * `TAIAT_DASHBOARD_USER` + `TAIAT_DASHBOARD_PASSWORD`).
 */
export async function serveDashboard(options: ServeDashboardOptions = {}): Promise<DashboardServer> {
  const { host = '127.0.0.1', port = 8080, ...rest } = options;
  const auth = rest.auth ?? authFromEnv();
  if (!LOOPBACK.has(host) && !hasAuth(auth)) {
    throw new TaiatError('TAIAT_CONFIG_INVALID', `the dashboard listens on ${host}, off this machine, only with authentication: set TAIAT_DASHBOARD_TOKENS, or TAIAT_DASHBOARD_USER and TAIAT_DASHBOARD_PASSWORD`);
  }
  const handler = await createDashboardHandler({ ...rest, ...(auth ? { auth } : {}) });
  const server: Server = createServer((req, res) => handler.node(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    await handler.close();
    throw new TaiatError('TAIAT_CONFIG_INVALID', `the dashboard cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}${rest.basePath ?? ''}/`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // a browser's keep-alive connection would hold the close
      await closed;
      await handler.close();
    },
  };
}
