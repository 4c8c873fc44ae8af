/**
 * A module-loading hook (node:module `register`) that guards postgres.js against
 * porsager/postgres#1208: a statement sent on a connection whose socket has just closed (a
 * reserved connection after its backend died, a write racing a Postgres restart) dereferences
 * the null socket in a timer callback, an uncaught TypeError that ends the process. The guard,
 * the one of the upstream fix (porsager/postgres#1209), fails that statement with
 * CONNECTION_CLOSED instead. It is added to postgres.js's source as the module loads, so it
 * reaches every installation, leaves releases that carry a fix of their own alone, and changes
 * nothing if the function no longer looks as expected.
 */

const GUARD = `
    if (!socket) { // guard added by taiat (porsager/postgres#1208)
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
`;

/** postgres.js's connection module (its ESM build, and the CommonJS one when loaded by import). */
const CONNECTION_MODULE = /\/postgres\/(cjs\/)?src\/connection\.js$/;

/** The source with the guard added, or null when it needs none or has an unknown shape. */
export function guardedSource(source: string): string | null {
  const head = /function nextWrite\(fn\) \{\n/.exec(source);
  if (!head) return null;
  const body = source.slice(head.index + head[0].length, head.index + head[0].length + 400);
  if (/^\s*if \(!socket\)/.test(body)) return null;
  return source.slice(0, head.index + head[0].length) + GUARD + source.slice(head.index + head[0].length);
}

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: unknown) => Promise<LoadResult>;

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (!CONNECTION_MODULE.test(url) || result.source === null || result.source === undefined) return result;
  const text = typeof result.source === 'string' ? result.source : new TextDecoder().decode(result.source);
  const guarded = guardedSource(text);
  return guarded === null ? result : { ...result, source: guarded };
}
