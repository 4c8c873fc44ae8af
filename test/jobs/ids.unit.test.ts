import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// ids.ts keeps the last millisecond and sequence in module state: each test gets a fresh copy,
// so a clock mocked by one test does not shape the ids of the next.
let newJobId: () => string;
beforeEach(async () => {
  vi.resetModules();
  ({ newJobId } = await import('../../src/jobs/ids.js'));
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The millisecond timestamp in a UUIDv7's first 48 bits. */
const msecsOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

/** Ids of the same length and case sort as the 128-bit numbers they spell. */
function expectStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i - 1]! < ids[i]!)) expect.fail(`id ${i} (${ids[i]}) is not after id ${i - 1} (${ids[i - 1]})`);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('newJobId', () => {
  it('is a UUIDv7 (version 7, RFC variant) carrying the current time', () => {
    const before = Date.now();
    const id = newJobId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    expect(msecsOf(id)).toBeGreaterThanOrEqual(before);
    expect(msecsOf(id)).toBeLessThanOrEqual(after);
  });

  it('is strictly increasing over 5,000 calls in a row, across several pool refills', () => {
    // The random bytes come from a pool of 1,024 ids: refills happen within this run.
    const ids = Array.from({ length: 5_000 }, () => newJobId());
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect(new Set(ids).size).toBe(ids.length);
    expectStrictlyIncreasing(ids);
  });

  it('is strictly increasing over 3,000 ids made within one millisecond, which they all carry', () => {
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now);
    const ids = Array.from({ length: 3_000 }, () => newJobId());
    expectStrictlyIncreasing(ids);
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      expect(msecsOf(id)).toBe(now);
    }
  });

  it('stays increasing when the clock steps back, until it catches up', () => {
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    const first = newJobId();
    clock.mockReturnValue(now - 5_000);
    const during = Array.from({ length: 10 }, () => newJobId());
    clock.mockReturnValue(now + 1);
    const caughtUp = newJobId();

    expectStrictlyIncreasing([first, ...during, caughtUp]);
    for (const id of during) expect(msecsOf(id)).toBe(now);
    expect(msecsOf(caughtUp)).toBe(now + 1);
  });
});
