import { z } from 'zod';
import { ValidationError } from '../errors.js';

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/**
 * Whether the driver can parse the URL, by its own rule (the hosts of a multi-host URL stand in
 * for one): a URL it cannot parse makes it throw an error that carries the whole URL, password
 * and all, so it is refused here first, without being echoed.
 */
function parsable(url: string): boolean {
  try {
    const authority = url.slice(url.indexOf('://') + 3).split(/[?/]/)[0]!;
    const hosts = decodeURIComponent(authority.slice(authority.indexOf('@') + 1));
    return new URL(url.replace(hosts, hosts.split(',')[0]!)) instanceof URL;
  } catch {
    return false;
  }
}

const NOT_PARSABLE = 'is not a URL the driver can parse (check the port, the host and any %-escapes; the value is not shown, as it may hold a password)';

/** An option holding a URL besides `databaseUrl` (`listenDatabaseUrl`, `readDatabaseUrl`): checked, never echoed. */
export const postgresUrlOption = (name: string) =>
  z.string({ error: `${name} must be a string` })
    .regex(POSTGRES_URL, 'must start with postgres:// or postgresql://')
    .refine(parsable, NOT_PARSABLE);

/** Checks a URL's scheme and that the driver can parse it: a `ValidationError` naming `field` otherwise. */
export function checkDatabaseUrl(url: string, field: string, from = ''): string {
  if (!POSTGRES_URL.test(url)) throw new ValidationError(field, `must start with postgres:// or postgresql://${from}`, 'TAIAT_CONFIG_INVALID');
  if (!parsable(url)) throw new ValidationError(field, `${NOT_PARSABLE}${from}`, 'TAIAT_CONFIG_INVALID');
  return url;
}

/** Where a database URL may come from, in order of precedence. */
export interface DatabaseUrlSources {
  explicit?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * The database URL: an explicit one (`--database-url`, `databaseUrl`), else `TAIAT_DATABASE_URL`,
 * else `DATABASE_URL`. Throws a `ValidationError` naming all three when none is set.
 */
export function resolveDatabaseUrl({ explicit, env = process.env }: DatabaseUrlSources = {}): string {
  const url = explicit || env.TAIAT_DATABASE_URL || env.DATABASE_URL;
  if (!url) {
    throw new ValidationError(
      'databaseUrl',
      'no database URL: pass --database-url (or databaseUrl), or set TAIAT_DATABASE_URL or DATABASE_URL',
      'TAIAT_CONFIG_INVALID',
    );
  }
  return checkDatabaseUrl(url, 'databaseUrl');
}

/**
 * The URL with its password replaced by `***` (in the user part, and a `password` query
 * parameter, which libpq reads): the only form a URL may take in output.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@').replace(/([?&]password=)[^&]*/gi, '$1***');
  }
}

/** Removes every occurrence of the URL's password (its user part's, and a `password` parameter's) from a text (error messages, logs). */
export function scrubSecret(text: string, url: string): string {
  let secrets: string[];
  try {
    const parsed = new URL(url);
    secrets = [decodeURIComponent(parsed.password), parsed.searchParams.get('password') ?? ''];
  } catch {
    return text;
  }
  return secrets.filter((secret) => secret !== '').reduce((scrubbed, secret) => scrubbed.split(secret).join('***'), text);
}

/** Whether the URL goes through a pooler in transaction mode: the option, else `TAIAT_TRANSACTION_POOLING` (`1` or `true`). */
export function transactionPoolingFrom(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return option ?? /^(1|true)$/i.test(env.TAIAT_TRANSACTION_POOLING ?? '');
}

/**
 * The URL of a read replica: the option, else `TAIAT_READ_DATABASE_URL`; undefined when neither is
 * set (then reads use the primary's pool, and no second pool is opened).
 */
export function readDatabaseUrlFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = option || env.TAIAT_READ_DATABASE_URL || undefined;
  return url === undefined ? undefined : checkDatabaseUrl(url, 'readDatabaseUrl', ' (from TAIAT_READ_DATABASE_URL or the option)');
}
