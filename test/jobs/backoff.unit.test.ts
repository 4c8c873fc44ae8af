import { describe, expect, it } from 'vitest';
import { retryDelaySeconds } from '../../src/jobs/backoff.js';

/** A "random" source that always returns `r`, for jitter at its edges and middle. */
const fixed = (r: number) => () => r;
const middle = fixed(0.5); // 2 * 0.5 - 1 = 0: no jitter

describe('retryDelaySeconds', () => {
  it('starts at base and doubles with each retry', () => {
    const delays = [0, 1, 2, 3, 4, 10].map((n) => retryDelaySeconds(n, 1.5, 1e9, 0.2, middle));
    expect(delays).toEqual([1.5, 3, 6, 12, 24, 1536]);
  });

  it('caps the delay at max, including a max below base', () => {
    expect(retryDelaySeconds(5, 1, 20, 0, middle)).toBe(20);
    expect(retryDelaySeconds(4, 1, 16, 0, middle)).toBe(16);
    expect(retryDelaySeconds(3, 1, 16, 0, middle)).toBe(8);
    expect(retryDelaySeconds(0, 60, 10, 0, middle)).toBe(10);
  });

  it('stays finite and capped for huge retry counts', () => {
    for (const n of [51, 1024, 1e6, Number.MAX_SAFE_INTEGER, Infinity]) {
      expect(retryDelaySeconds(n, 1, 3600, 0, middle)).toBe(3600);
    }
    // Without a cap worth the name, the exponent still stops at 2^50.
    expect(retryDelaySeconds(1e6, 1, Number.MAX_VALUE, 0, middle)).toBe(2 ** 50);
    expect(retryDelaySeconds(1e6, 0, 3600, 0.2, fixed(0.99))).toBe(0);
  });

  it('spreads the delay by at most ±jitter around the (capped) delay', () => {
    expect(retryDelaySeconds(2, 1, 3600, 0.2, fixed(0))).toBeCloseTo(4 * 0.8, 12);
    expect(retryDelaySeconds(2, 1, 3600, 0.2, fixed(0.75))).toBeCloseTo(4 * 1.1, 12);
    // Math.random() is below 1, so the top is approached, not reached.
    expect(retryDelaySeconds(2, 1, 3600, 0.2, fixed(1 - 2 ** -53))).toBeCloseTo(4 * 1.2, 12);
    // The spread applies after the cap: max is where the spread is centred, not a hard ceiling.
    expect(retryDelaySeconds(30, 1, 100, 0.2, fixed(0))).toBeCloseTo(80, 12);
    expect(retryDelaySeconds(30, 1, 100, 0.2, fixed(1 - 2 ** -53))).toBeCloseTo(120, 12);
  });

  it('keeps every delay within its bounds with the real Math.random', () => {
    for (let i = 0; i < 1000; i++) {
      const delay = retryDelaySeconds(3, 2, 3600, 0.25);
      expect(delay).toBeGreaterThanOrEqual(16 * 0.75);
      expect(delay).toBeLessThan(16 * 1.25);
    }
  });

  it('never returns a negative delay, even with a jitter above 1', () => {
    expect(retryDelaySeconds(0, 10, 3600, 1, fixed(0))).toBe(0);
    expect(retryDelaySeconds(0, 10, 3600, 1.5, fixed(0))).toBe(0);
    expect(retryDelaySeconds(0, 0, 3600, 0.2, fixed(0))).toBe(0);
  });

  it('calls the random source once per delay', () => {
    let calls = 0;
    retryDelaySeconds(1, 1, 10, 0.2, () => (calls++, 0.5));
    expect(calls).toBe(1);
  });
});
