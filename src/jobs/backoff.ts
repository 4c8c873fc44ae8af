/**
 * Seconds before retry number `retryCount + 1`: `base * 2^retryCount`, capped at `max`, spread by
 * ±`jitter` so jobs that failed together do not retry together.
 */
export function retryDelaySeconds(retryCount: number, base: number, max: number, jitter: number, random: () => number = Math.random): number {
  const delay = Math.min(max, base * 2 ** Math.min(retryCount, 50));
  return Math.max(0, delay * (1 + jitter * (2 * random() - 1)));
}
