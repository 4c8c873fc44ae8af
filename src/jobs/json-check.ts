/**
 * Deepest nesting of arrays and objects accepted. Deeper values overflow the stack of this check,
 * of `JSON.stringify` and of Postgres's JSON parser alike (at a few thousand levels).
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Finds the first part of a value that does not survive a JSON round trip into Postgres JSONB:
 * functions, symbols, BigInt, non-finite numbers, cycles, class instances (Date, Map, ...),
 * strings or keys with a NUL character or a lone surrogate (JSONB refuses both), and nesting
 * deeper than `MAX_JSON_DEPTH`. Returns `[path, reason]` or null. `undefined` object properties
 * are allowed: JSON drops them, as callers expect.
 */
export function findJsonProblem(value: unknown, path = ''): [string, string] | null {
  // A value that is not an object (most results: null, a number, a string) needs no walk, and so
  // none of its allocations: this runs for every job's result.
  if (typeof value !== 'object' || value === null) {
    const problem = primitiveProblem(value);
    return problem === null ? null : [path, problem];
  }
  const seen = new Set<object>();
  // The path is built only for the part that fails, on the way back up: payloads are checked on
  // every create, and building a path string per value cost more than the check.
  const trail: (string | number)[] = [];
  const visit = (v: unknown): string | null => {
    if (typeof v !== 'object' || v === null) return primitiveProblem(v);
    const obj = v as object;
    if (seen.has(obj)) return 'contains a cycle';
    if (seen.size >= MAX_JSON_DEPTH) return `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`;
    const proto = Object.getPrototypeOf(obj);
    const isArray = Array.isArray(obj);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      const kind = (proto as { constructor?: { name?: string } })?.constructor?.name ?? 'object';
      return `a ${kind} does not survive JSON (convert it to a plain value)`;
    }
    seen.add(obj);
    if (isArray) {
      for (let i = 0; i < obj.length; i++) {
        const problem = visit(obj[i]);
        if (problem) return trail.push(i), problem;
      }
    } else {
      for (const key in obj) {
        if (!Object.hasOwn(obj, key)) continue;
        const child = (obj as Record<string, unknown>)[key];
        if (child === undefined) continue;
        if (key.includes('\u0000')) return trail.push(key), 'key contains a NUL character';
        if (!key.isWellFormed()) return trail.push(key), 'key is not well-formed Unicode (a lone surrogate)';
        const problem = visit(child);
        if (problem) return trail.push(key), problem;
      }
    }
    seen.delete(obj);
    return null;
  };
  const problem = visit(value);
  if (problem === null) return null;
  let at = path;
  for (const part of trail.reverse()) at = typeof part === 'number' ? `${at}[${part}]` : at ? `${at}.${part}` : part;
  return [at, problem];
}

/** What keeps a value that is not an object (or is null) out of JSONB; null when nothing does. */
function primitiveProblem(v: unknown): string | null {
  switch (typeof v) {
    case 'string':
      if (v.includes('\u0000')) return 'contains a NUL character, which Postgres cannot store';
      return v.isWellFormed() ? null : 'is not well-formed Unicode (a lone surrogate), which JSON cannot carry';
    case 'number':
      return Number.isFinite(v) ? null : `${v} is not a JSON number`;
    case 'bigint':
      return 'a BigInt does not survive JSON (pass it as a string)';
    case 'function':
      return 'a function does not survive JSON';
    case 'symbol':
      return 'a symbol does not survive JSON';
    case 'undefined':
      return 'undefined is not a JSON value';
    default:
      return null; // boolean, null
  }
}

/**
 * Text as Postgres can store it: NUL characters and lone surrogates (which neither text nor JSONB
 * accepts) become U+FFFD. For text taiat records on its own, such as an executor's error message,
 * where refusing is not an option.
 */
export function storableText(text: string): string {
  return isStorableText(text) ? text : text.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

/** Whether Postgres can store `text` as it is (no NUL character, no lone surrogate). */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}
