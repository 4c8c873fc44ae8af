/** Small statistics helpers. */

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export const round = (value: number, digits = 1): number => {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

/** Bytes as megabytes, one decimal; null for missing (or zero). */
export const mb = (bytes: number | null | undefined): number | null => (bytes ? round(bytes / 1024 / 1024, 1) : null);

/** Every run's figures (null: failed), and the median, min and max of each numeric field. */
export interface Summary<T> {
  runs: (T | null)[];
  median: Record<string, number>;
  min: Record<string, number>;
  max: Record<string, number>;
}

export function summarize<T extends object>(runs: (T | null)[]): Summary<T> {
  const ok = runs.filter((r): r is T => r !== null);
  const out: Summary<T> = { runs, median: {}, min: {}, max: {} };
  if (ok.length > 0) {
    for (const [key, value] of Object.entries(ok[0]!)) {
      if (typeof value !== 'number') continue;
      const values = ok.map((r) => (r as Record<string, number>)[key]!).filter((v) => typeof v === 'number');
      out.median[key] = round(median(values), 3);
      out.min[key] = round(Math.min(...values), 3);
      out.max[key] = round(Math.max(...values), 3);
    }
  }
  return out;
}
