import { guardedSource } from '../db/driver-guard.js';

/**
 * A module-loading hook (node:module `register`) that adds taiat's guard (db/driver-guard.ts) to
 * any postgres.js loaded after it: for an application that wants its own use of postgres.js
 * guarded too (`node --import taiat/register app.js`). taiat guards its own connections without it.
 */

/** postgres.js's connection module (its ESM build, and the CommonJS one when loaded by import). */
const CONNECTION_MODULE = /\/postgres\/(cjs\/)?src\/connection\.js$/;

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
