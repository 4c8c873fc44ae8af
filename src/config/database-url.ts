import { z } from 'zod';
import { ValidationError } from '../errors.js';

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/** An option holding a URL besides `databaseUrl` (`listenDatabaseUrl`, `readDatabaseUrl`): checked, never echoed. */
export const postgresUrlOption = (name: string) =>
  z.string({ error: `${name} must be a string` }).regex(POSTGRES_URL, `${name} must start with postgres:// or postgresql://`);

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
  if (!POSTGRES_URL.test(url)) {
    throw new ValidationError('databaseUrl', 'must start with postgres:// or postgresql://', 'TAIAT_CONFIG_INVALID');
  }
  return url;
}

/** The URL with its password replaced by `***`: the only form a URL may take in output. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Removes every occurrence of the URL's password from a text (error messages, logs). */
export function scrubSecret(text: string, url: string): string {
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    return text;
  }
  return password ? text.split(password).join('***') : text;
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
  if (url !== undefined && !POSTGRES_URL.test(url)) {
    throw new ValidationError('readDatabaseUrl', 'must start with postgres:// or postgresql:// (from TAIAT_READ_DATABASE_URL or the option)', 'TAIAT_CONFIG_INVALID');
  }
  return url;
}
