import { describe, expect, it } from 'vitest';
import { DependencyError, DuplicateJobIdError, TaiatError } from '../../src/errors.js';
import { checkGraph } from '../../src/jobs/graph.js';
import type { ValidatedJob } from '../../src/jobs/validation.js';

/** A validated job with a caller-chosen id (unless told), named after its id. */
function job(id: string, dependencies: string[] = [], idChosen = true): ValidatedJob {
  return {
    id,
    idChosen,
    jobType: 'noop',
    name: `name-${id}`,
    description: null,
    payload: {},
    payloadJson: '{}',
    dependencies,
    priority: 2,
    maxRetries: 3,
    queue: 'default',
    runAt: null,
    timeoutSeconds: null,
    retryDelaySeconds: null,
    uniqueKey: null,
    uniqueWhile: null,
    uniquePeriodSeconds: null,
    uniqueMode: 'keep',
    scheduleId: null,
    scheduleTick: null, concurrencyKey: null,
  };
}

/** The error `checkGraph` throws for these jobs (fails the test if it throws none). */
function graphError(jobs: ValidatedJob[]): TaiatError {
  try {
    checkGraph(jobs);
  } catch (error) {
    expect(error).toBeInstanceOf(TaiatError);
    return error as TaiatError;
  }
  expect.fail('checkGraph accepted the graph');
}

describe('checkGraph', () => {
  it('accepts an empty call, independent jobs, and a diamond', () => {
    expect(() => checkGraph([])).not.toThrow();
    expect(() => checkGraph([job('a'), job('b'), job('c')])).not.toThrow();
    expect(() => checkGraph([job('d', ['b', 'c']), job('b', ['a']), job('c', ['a']), job('a')])).not.toThrow();
  });

  it('ignores dependencies outside the call, which the database checks later', () => {
    expect(() => checkGraph([job('a', ['elsewhere-1']), job('b', ['a', 'elsewhere-2'])])).not.toThrow();
  });

  it('refuses ids repeated within the call, each named once', () => {
    const error = graphError([job('a'), job('b'), job('a'), job('c'), job('b'), job('a')]);
    expect(error).toBeInstanceOf(DuplicateJobIdError);
    expect(error.code).toBe('TAIAT_DUPLICATE_JOB_ID');
    expect((error as DuplicateJobIdError).jobIds).toEqual(['a', 'b']);
    expect(error.message).toContain('a, b');
  });

  it('refuses a job that depends on itself, even among other dependencies', () => {
    const error = graphError([job('a'), job('b', ['a', 'b'])]);
    expect(error).toBeInstanceOf(DependencyError);
    expect(error.code).toBe('TAIAT_DEPENDENCY_SELF');
    expect((error as DependencyError).jobIds).toEqual(['b']);
    expect(error.message).toBe('job b (name-b) depends on itself');
  });

  it('refuses a cycle of two and gives its path, the first id repeated at the end', () => {
    const error = graphError([job('a', ['b']), job('b', ['a'])]);
    expect(error).toBeInstanceOf(DependencyError);
    expect(error.code).toBe('TAIAT_DEPENDENCY_CYCLE');
    expect((error as DependencyError).jobIds).toEqual(['a', 'b', 'a']);
    expect(error.message).toBe('dependency cycle: a (name-a) -> b (name-b) -> a (name-a)');
  });

  it('gives only the cycle in the path, not the jobs that lead to it', () => {
    // entry -> x -> y -> z -> x: the search enters at `entry`, which is not part of the cycle.
    const error = graphError([job('entry', ['x']), job('x', ['y']), job('y', ['z']), job('z', ['outside', 'x'])]);
    expect(error.code).toBe('TAIAT_DEPENDENCY_CYCLE');
    expect((error as DependencyError).jobIds).toEqual(['x', 'y', 'z', 'x']);
  });

  it('finds a cycle reached only through a job already searched', () => {
    // `a` is finished (done) before the search from `b` walks into the cycle c -> d -> c.
    const error = graphError([job('a'), job('b', ['a', 'c']), job('c', ['a', 'd']), job('d', ['c'])]);
    expect((error as DependencyError).jobIds).toEqual(['c', 'd', 'c']);
  });

  it('checks duplicates before self-dependencies and cycles', () => {
    const error = graphError([job('a', ['a']), job('a', ['b']), job('b', ['a'])]);
    expect(error.code).toBe('TAIAT_DUPLICATE_JOB_ID');
  });

  it('skips the check when every id was generated (nothing can repeat or refer to them)', () => {
    // Not a real input (generated ids are unique): shows the check is skipped, as its cost is.
    expect(() => checkGraph([job('g', ['g'], false), job('g', [], false)])).not.toThrow();
    // One chosen id is enough for the whole call to be checked.
    expect(graphError([job('g', ['g'], false), job('c')]).code).toBe('TAIAT_DEPENDENCY_SELF');
  });

  it('walks a chain of 100,000 jobs without overflowing the stack, and finds the cycle that closes it', () => {
    const n = 100_000;
    const chain = Array.from({ length: n }, (_, i) => job(`j${i}`, i + 1 < n ? [`j${i + 1}`] : []));
    expect(() => checkGraph(chain)).not.toThrow();

    chain[n - 1] = job(`j${n - 1}`, ['j0']);
    const error = graphError(chain) as DependencyError;
    expect(error.code).toBe('TAIAT_DEPENDENCY_CYCLE');
    expect(error.jobIds).toHaveLength(n + 1);
    expect(error.jobIds[0]).toBe('j0');
    expect(error.jobIds[n - 1]).toBe(`j${n - 1}`);
    expect(error.jobIds[n]).toBe('j0');
  });

  it('searches each job once, not once per path that reaches it', () => {
    // A ladder of 16 rungs: both jobs of a rung depend on both jobs of the next, so 2^16 paths
    // lead to the bottom. Count the reads of dependency entries: a search that forgot finished
    // jobs would read ~130,000 of them instead of a few per edge.
    const rungs = 16;
    let reads = 0;
    const counted = (ids: string[]) =>
      new Proxy(ids, {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver);
        },
      });
    const jobs: ValidatedJob[] = [];
    for (let r = 0; r < rungs; r++) {
      const below = r + 1 < rungs ? [`l${r + 1}`, `r${r + 1}`] : [];
      jobs.push(job(`l${r}`, counted(below)), job(`r${r}`, counted(below)));
    }
    checkGraph(jobs);
    const edges = 4 * (rungs - 1);
    expect(reads).toBeGreaterThanOrEqual(edges);
    expect(reads).toBeLessThanOrEqual(3 * edges);
  });
});
