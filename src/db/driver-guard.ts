/**
 * taiat's guard on postgres.js against porsager/postgres#1208: a statement sent on a connection
 * whose socket has just closed (a reserved connection after its backend died, a write racing a
 * Postgres restart) dereferences the null socket in a timer callback, an uncaught TypeError that
 * ends the process. The guard, the one of the upstream fix (porsager/postgres#1209, unreleased),
 * fails that statement with CONNECTION_CLOSED instead. It is added to the connection module's
 * source: releases that carry a fix of their own are left alone, and so is a function that no
 * longer looks as expected.
 */

const GUARD = `
    if (!socket) { // guard added by taiat (porsager/postgres#1208)
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
`;

/** The source with the guard added, or null when it needs none or has an unknown shape. */
export function guardedSource(source: string): string | null {
  const head = /function nextWrite\(fn\) \{\n/.exec(source);
  if (!head) return null;
  const body = source.slice(head.index + head[0].length, head.index + head[0].length + 400);
  if (/^\s*if \(!socket\)/.test(body)) return null;
  return source.slice(0, head.index + head[0].length) + GUARD + source.slice(head.index + head[0].length);
}
