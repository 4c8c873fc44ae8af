/**
 * A value read from the database that many requests share: the overview's counts, the queues and
 * workers. Counting a million live jobs takes the better part of a second; every page polls every
 * 5 s, and several people may watch. So a request is answered from the last reading while it is
 * fresh enough, and a new reading is started in the background (one at a time) once it is older
 * than the refresh interval, which grows with the reading's own cost (4x it, at least 2 s): a slow
 * count is not run back to back. A reading older than `maxStaleMs` (nobody asked for a while) is
 * not served: the request waits for a new one. Each value carries `generatedAt`.
 */
export class Snapshot<T> {
  readonly #read: () => Promise<T>;
  readonly #maxStaleMs: number;
  #value: { at: number; data: T } | undefined;
  #reading: Promise<{ at: number; data: T }> | undefined;
  #costMs = 0;

  constructor(read: () => Promise<T>, maxStaleMs = 30_000) {
    this.#read = read;
    this.#maxStaleMs = maxStaleMs;
  }

  async get(): Promise<T & { generatedAt: Date }> {
    const now = Date.now();
    const current = this.#value;
    if (current && now - current.at < this.#maxStaleMs) {
      if (now - current.at >= Math.max(2000, 4 * this.#costMs)) void this.#refresh().catch(() => undefined);
      return { ...current.data, generatedAt: new Date(current.at) };
    }
    const fresh = await this.#refresh();
    return { ...fresh.data, generatedAt: new Date(fresh.at) };
  }

  /** Forgets the reading (an action changed what it counts): the next request waits for a new one. */
  invalidate(): void {
    this.#value = undefined;
  }

  #refresh(): Promise<{ at: number; data: T }> {
    this.#reading ??= (async () => {
      const start = Date.now();
      try {
        const data = await this.#read();
        this.#costMs = Date.now() - start;
        this.#value = { at: start, data };
        return this.#value;
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }
}
