import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import type { DashboardAuth } from './options.js';

/** What the security middleware leaves on each request's context. */
export interface SecurityVariables {
  /** Who is asking: recorded with every action. */
  actor: string;
  /** Credentials the browser sends by itself (basic auth, or none on loopback): actions need the CSRF header. */
  ambient: boolean;
}

/** The header a page's POST carries: the token of this handler, which another site cannot read. */
export const CSRF_HEADER = 'x-taiat-csrf';

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  if (!header?.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Authenticates each request by the configured means; with none configured, everyone is `local`. */
export function authenticate(auth: DashboardAuth | undefined): MiddlewareHandler<{ Variables: SecurityVariables }> {
  return async (c, next) => {
    if (!auth) {
      c.set('actor', 'local');
      c.set('ambient', true);
      return next();
    }
    const header = c.req.header('authorization');
    if (auth.authenticate) {
      const actor = await auth.authenticate(c.req.raw);
      if (actor) {
        c.set('actor', actor);
        c.set('ambient', true); // a host's session cookie, most likely: sent by the browser by itself
        return next();
      }
    }
    if (header?.startsWith('Bearer ') && auth.tokens) {
      const token = header.slice(7).trim();
      if (auth.tokens.some((t) => same(t, token))) {
        c.set('actor', `token:${token.slice(0, 4)}`);
        c.set('ambient', false);
        return next();
      }
    }
    const basic = basicCredentials(header);
    if (basic && auth.basic && same(basic.user, auth.basic.user) && same(basic.password, auth.basic.password)) {
      c.set('actor', basic.user);
      c.set('ambient', true);
      return next();
    }
    if (auth.basic) c.header('WWW-Authenticate', 'Basic realm="taiat", charset="UTF-8"');
    throw new UnauthorizedError();
  };
}

/**
 * Guards actions against cross-site requests: a POST whose credentials the browser sends by
 * itself must carry this handler's CSRF token in a header (which a form on another site cannot set,
 * and a script there cannot send without a CORS preflight this server never grants) and, when the
 * browser says where it comes from, come from this origin.
 */
export function csrfGuard(token: string): MiddlewareHandler<{ Variables: SecurityVariables }> {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.get('ambient')) {
      const sent = c.req.header(CSRF_HEADER);
      if (!sent || !same(sent, token)) throw new ForbiddenError(`missing or wrong ${CSRF_HEADER} header (read it from GET /api/session)`);
      if (!sameOrigin(c)) throw new ForbiddenError('cross-origin request refused');
    }
    return next();
  };
}

function sameOrigin(c: Context): boolean {
  const origin = c.req.header('origin');
  if (!origin) return true; // not sent by older browsers on same-origin requests; the token still holds
  const host = c.req.header('x-forwarded-host') ?? c.req.header('host');
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** A fresh CSRF token for one handler. */
export const newCsrfToken = () => randomBytes(24).toString('base64url');
