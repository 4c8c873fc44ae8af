/**
 * Finds the first part of a value that does not survive a JSON round trip into Postgres JSONB:
 * functions, symbols, BigInt, non-finite numbers, cycles, class instances (Date, Map, ...), and
 * strings with a NUL character (JSONB refuses them). Returns `[path, reason]` or null.
 * `undefined` object properties are allowed: JSON drops them, as callers expect.
 */
export function findJsonProblem(value: unknown, path = ''): [string, string] | null {
  const seen = new Set<object>();
  const visit = (v: unknown, p: string): [string, string] | null => {
    switch (typeof v) {
      case 'string':
        return v.includes('\u0000') ? [p, 'contains a NUL character, which Postgres cannot store'] : null;
      case 'boolean':
        return null;
      case 'number':
        return Number.isFinite(v) ? null : [p, `${v} is not a JSON number`];
      case 'bigint':
        return [p, 'a BigInt does not survive JSON (pass it as a string)'];
      case 'function':
        return [p, 'a function does not survive JSON'];
      case 'symbol':
        return [p, 'a symbol does not survive JSON'];
      case 'undefined':
        return [p, 'undefined is not a JSON value'];
    }
    if (v === null) return null;
    const obj = v as object;
    if (seen.has(obj)) return [p, 'contains a cycle'];
    const proto = Object.getPrototypeOf(obj);
    const isArray = Array.isArray(obj);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      const kind = (proto as { constructor?: { name?: string } })?.constructor?.name ?? 'object';
      return [p, `a ${kind} does not survive JSON (convert it to a plain value)`];
    }
    seen.add(obj);
    if (isArray) {
      for (let i = 0; i < obj.length; i++) {
        const problem = visit(obj[i], `${p}[${i}]`);
        if (problem) return problem;
      }
    } else {
      for (const [key, child] of Object.entries(obj)) {
        if (child === undefined) continue;
        const childPath = p ? `${p}.${key}` : key;
        if (key.includes('\u0000')) return [childPath, 'key contains a NUL character'];
        const problem = visit(child, childPath);
        if (problem) return problem;
      }
    }
    seen.delete(obj);
    return null;
  };
  return visit(value, path);
}
