import { ValidationError } from '../errors.js';

/** The schema taiat uses when none is named: where it has always lived. */
export const DEFAULT_SCHEMA = 'public';

// Lower-case names need no quoting anywhere, and 46 characters leave room for the notification
// channels derived from them (`taiat_jobs_ready:<schema>`, 63 bytes at most).
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,45}$/;

/**
 * The schema of a taiat instance: an explicit one (`--schema`, `schema`), else `TAIAT_SCHEMA`,
 * else `public`. Throws a `ValidationError` naming `schema` when the name is not a lower-case
 * identifier of at most 46 characters.
 */
export function resolveSchema(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const schema = explicit ?? (env.TAIAT_SCHEMA || DEFAULT_SCHEMA);
  if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema)) {
    throw new ValidationError(
      'schema',
      `${JSON.stringify(schema)} is not a schema name taiat accepts: lower-case letters, digits and _, starting with a letter or _, at most 46 characters`,
      'TAIAT_CONFIG_INVALID',
    );
  }
  return schema;
}
