import { describe, expect, it } from 'vitest';
import { findJsonProblem, isStorableText, MAX_JSON_DEPTH, storableText } from '../../src/jobs/json-check.js';

const LONE_HIGH = '\uD800';
const LONE_LOW = '\uDC00';
const PAIR = '\uD83D\uDE00'; // 😀, a well-formed surrogate pair

describe('findJsonProblem', () => {
  it(`accepts nesting ${MAX_JSON_DEPTH} levels deep and refuses one more, naming where`, () => {
    const nest = (levels: number) => {
      let v: unknown = 1;
      for (let i = 0; i < levels; i++) v = i % 2 ? { k: v } : [v];
      return v;
    };
    expect(findJsonProblem(nest(MAX_JSON_DEPTH), 'payload')).toBeNull();
    const [at, reason] = findJsonProblem(nest(MAX_JSON_DEPTH + 1), 'payload')!;
    expect(reason).toBe(`nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
    expect(at).toMatch(/^payload(\.k|\[0\])+$/);
  });

  it('accepts plain JSON values, nested, including null, empty containers and -0', () => {
    const value = {
      s: 'text ✓ ' + PAIR,
      n: -0,
      big: Number.MAX_VALUE,
      t: true,
      f: false,
      z: null,
      a: [1, 'two', [3, [4]], { five: 5 }],
      o: {},
      e: [],
    };
    expect(findJsonProblem(value)).toBeNull();
    expect(findJsonProblem(value, 'payload')).toBeNull();
    expect(findJsonProblem(null)).toBeNull();
    expect(findJsonProblem('plain')).toBeNull();
  });

  it('accepts objects without a prototype and the same object reached twice (not a cycle)', () => {
    const bare = Object.assign(Object.create(null) as object, { k: 1 });
    const shared = { k: [1, 2] };
    expect(findJsonProblem({ bare })).toBeNull();
    expect(findJsonProblem({ first: shared, second: shared, list: [shared, shared] })).toBeNull();
  });

  it('allows undefined object properties, which JSON drops', () => {
    expect(findJsonProblem({ a: undefined, b: { c: undefined } })).toBeNull();
    // Even under a key JSONB would refuse: the key is dropped with its value.
    expect(findJsonProblem({ ['bad\u0000key']: undefined })).toBeNull();
  });

  it.each([
    ['a function', () => 1, 'a function does not survive JSON'],
    ['a symbol', Symbol('s'), 'a symbol does not survive JSON'],
    ['a BigInt', 10n, 'a BigInt does not survive JSON (pass it as a string)'],
    ['NaN', NaN, 'NaN is not a JSON number'],
    ['Infinity', Infinity, 'Infinity is not a JSON number'],
    ['-Infinity', -Infinity, '-Infinity is not a JSON number'],
  ])('refuses %s, at its path', (_, bad, reason) => {
    expect(findJsonProblem({ a: [0, 1, { b: bad }] }, 'payload')).toEqual(['payload.a[2].b', reason]);
    expect(findJsonProblem([0, [bad]], 'payload')).toEqual(['payload[1][0]', reason]);
  });

  it('refuses undefined in an array, which JSON would turn into null, including a hole', () => {
    expect(findJsonProblem({ list: [1, undefined] })).toEqual(['list[1]', 'undefined is not a JSON value']);
    expect(findJsonProblem({ list: [1, , 3] })).toEqual(['list[1]', 'undefined is not a JSON value']);
  });

  it('names class instances by their class', () => {
    class Point {
      x = 1;
    }
    expect(findJsonProblem({ at: new Date(0) })).toEqual(['at', 'a Date does not survive JSON (convert it to a plain value)']);
    expect(findJsonProblem({ m: [new Map()] })).toEqual(['m[0]', 'a Map does not survive JSON (convert it to a plain value)']);
    expect(findJsonProblem({ s: new Set([1]) })?.[1]).toContain('a Set does not survive JSON');
    expect(findJsonProblem({ p: new Point() })?.[1]).toContain('a Point does not survive JSON');
    expect(findJsonProblem({ bytes: new Uint8Array(2) })?.[1]).toContain('a Uint8Array does not survive JSON');
    expect(findJsonProblem({ re: /x/ })?.[1]).toContain('a RegExp does not survive JSON');
  });

  it('refuses cycles, through objects and arrays, at the edge that closes them', () => {
    const o: Record<string, unknown> = { name: 'o' };
    o.self = o;
    expect(findJsonProblem(o, 'payload')).toEqual(['payload.self', 'contains a cycle']);

    const list: unknown[] = [1];
    const holder = { inner: { list } };
    list.push(holder);
    expect(findJsonProblem(holder)).toEqual(['inner.list[1]', 'contains a cycle']);
  });

  it('refuses NUL characters and lone surrogates in strings', () => {
    expect(findJsonProblem({ s: 'a\u0000b' }, 'payload')).toEqual(['payload.s', 'contains a NUL character, which Postgres cannot store']);
    const lone = 'is not well-formed Unicode (a lone surrogate), which JSON cannot carry';
    expect(findJsonProblem({ s: `x${LONE_HIGH}` })).toEqual(['s', lone]);
    expect(findJsonProblem({ s: `${LONE_LOW}x` })).toEqual(['s', lone]);
    // A low surrogate before its high one is two lone surrogates, not a pair.
    expect(findJsonProblem([`${LONE_LOW}${LONE_HIGH}`])).toEqual(['[0]', lone]);
    // NUL is reported first when a string has both.
    expect(findJsonProblem(['\u0000' + LONE_HIGH])?.[1]).toContain('NUL');
  });

  it('refuses NUL characters and lone surrogates in keys, naming the key', () => {
    expect(findJsonProblem({ ok: 1, nested: { ['k\u0000']: 1 } }, 'payload')).toEqual(['payload.nested.k\u0000', 'key contains a NUL character']);
    expect(findJsonProblem({ [LONE_HIGH]: 'v' })).toEqual([LONE_HIGH, 'key is not well-formed Unicode (a lone surrogate)']);
  });

  it('builds paths from the given prefix, or from nothing', () => {
    expect(findJsonProblem(NaN)).toEqual(['', 'NaN is not a JSON number']);
    expect(findJsonProblem(NaN, 'payload')).toEqual(['payload', 'NaN is not a JSON number']);
    expect(findJsonProblem({ a: { b: NaN } })).toEqual(['a.b', 'NaN is not a JSON number']);
    expect(findJsonProblem([[NaN]])).toEqual(['[0][0]', 'NaN is not a JSON number']);
    expect(findJsonProblem({ a: [{ b: [NaN] }] }, 'jobs[3].payload')).toEqual(['jobs[3].payload.a[0].b[0]', 'NaN is not a JSON number']);
  });

  it('reports the first problem in order, and a later call starts from a clean path', () => {
    expect(findJsonProblem({ a: 1, b: NaN, c: () => 1 })).toEqual(['b', 'NaN is not a JSON number']);
    expect(findJsonProblem({ x: [1, 2, { y: 1n }] })).toEqual(['x[2].y', 'a BigInt does not survive JSON (pass it as a string)']);
    expect(findJsonProblem({ q: Infinity })).toEqual(['q', 'Infinity is not a JSON number']);
  });

  it('ignores what JSON ignores: non-enumerable properties, symbol keys', () => {
    const withHidden = {};
    Object.defineProperty(withHidden, 'hidden', { value: () => 1, enumerable: false });
    expect(findJsonProblem({ withHidden, [Symbol('k')]: () => 1 })).toBeNull();
  });

  it('ignores inherited properties, even on a polluted Object.prototype', () => {
    let problem: unknown;
    Object.defineProperty(Object.prototype, 'polluted', { value: () => 1, enumerable: true, configurable: true, writable: true });
    try {
      problem = findJsonProblem({ a: { b: 1 } });
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    expect(problem).toBeNull();
  });

  it('checks a large payload quickly enough for every create', () => {
    const big = { rows: Array.from({ length: 50_000 }, (_, i) => ({ i, name: `row ${i}`, tags: ['a', 'b'] })) };
    expect(findJsonProblem(big)).toBeNull();
    (big.rows[49_999]!.tags as unknown[]).push(NaN);
    expect(findJsonProblem(big, 'payload')).toEqual(['payload.rows[49999].tags[2]', 'NaN is not a JSON number']);
  });
});

describe('storableText', () => {
  it('returns text Postgres can store unchanged (the same string)', () => {
    const text = `plain, accented é, emoji ${PAIR}`;
    expect(storableText(text)).toBe(text);
    expect(storableText('')).toBe('');
  });

  it('replaces each NUL character and each lone surrogate with U+FFFD, keeping pairs', () => {
    expect(storableText('a\u0000b\u0000')).toBe('a\uFFFDb\uFFFD');
    expect(storableText(`x${LONE_HIGH}y${LONE_LOW}`)).toBe('x\uFFFDy\uFFFD');
    expect(storableText(`${PAIR}\u0000${LONE_LOW}${LONE_HIGH}`)).toBe(`${PAIR}\uFFFD\uFFFD\uFFFD`);
    expect(isStorableText(storableText(`\u0000${LONE_HIGH}${PAIR}`))).toBe(true);
  });
});

describe('isStorableText', () => {
  it('is false for a NUL character or a lone surrogate anywhere, true otherwise', () => {
    expect(isStorableText('')).toBe(true);
    expect(isStorableText(`ok ${PAIR} é`)).toBe(true);
    expect(isStorableText('\u0000')).toBe(false);
    expect(isStorableText('end\u0000')).toBe(false);
    expect(isStorableText(LONE_HIGH)).toBe(false);
    expect(isStorableText(`a${LONE_LOW}`)).toBe(false);
    expect(isStorableText(PAIR.slice(0, 1))).toBe(false);
  });
});
