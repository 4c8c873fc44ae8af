import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../src/index.js';
import type { JobProgress } from '../../src/jobs/progress.js';
import { PROGRESS_INTERVAL_MS, ProgressReporter } from '../../src/worker/progress-reporter.js';

const job = { id: 'j1' } as Job;

/** A writer whose writes the test settles by hand; `writes` holds what each was asked to store. */
function writer() {
  const writes: JobProgress[] = [];
  const pending: ((applied: boolean) => void)[] = [];
  const write = (_job: Job, progress: JobProgress) => {
    writes.push(progress);
    return new Promise<boolean>((resolve) => pending.push(resolve));
  };
  const answer = (applied = true) => pending.shift()!(applied);
  return { writes, write, answer, get inFlight() { return pending.length; } };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('ProgressReporter', () => {
  it('writes the first report at once, then the latest at most once per interval, one write at a time', async () => {
    const w = writer();
    const r = new ProgressReporter(job, w.write);
    r.report(1);
    expect(w.writes).toEqual([{ percent: 1, details: null }]);
    for (let i = 2; i <= 1000; i++) r.report(i / 10);
    w.answer();
    await vi.advanceTimersByTimeAsync(PROGRESS_INTERVAL_MS - 10);
    expect(w.writes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(20);
    expect(w.writes).toEqual([{ percent: 1, details: null }, { percent: 100, details: null }]);
    // A report while that write is in flight waits for it, then for the interval.
    r.report(50);
    await vi.advanceTimersByTimeAsync(2 * PROGRESS_INTERVAL_MS);
    expect(w.writes).toHaveLength(2);
    w.answer();
    await vi.advanceTimersByTimeAsync(PROGRESS_INTERVAL_MS);
    expect(w.writes.at(-1)).toEqual({ percent: 50, details: null });
  });

  it('writes the last unwritten value at the end, and nothing after it', async () => {
    const w = writer();
    const r = new ProgressReporter(job, w.write);
    r.report(10);
    w.answer();
    await vi.advanceTimersByTimeAsync(0);
    r.report(20, { step: 'two' });
    const settled = r.settle();
    await vi.advanceTimersByTimeAsync(0);
    expect(w.writes.at(-1)).toEqual({ percent: 20, details: { step: 'two' } });
    w.answer();
    await settled;
    r.report(30);
    await vi.advanceTimersByTimeAsync(5 * PROGRESS_INTERVAL_MS);
    expect(w.writes).toHaveLength(2);
  });

  it('stops waiting at the end after 2 s for a write that never answers', async () => {
    const w = writer();
    const r = new ProgressReporter(job, w.write);
    r.report(10);
    let done = false;
    void r.settle().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1900);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(done).toBe(true);
  });

  it('stops writing once a write finds the lease gone, and survives a failed write', async () => {
    const failing = new ProgressReporter(job, () => Promise.reject(new Error('connection lost')));
    failing.report(10);
    await vi.advanceTimersByTimeAsync(0);
    await expect(failing.settle()).resolves.toBeUndefined();

    const w = writer();
    const r = new ProgressReporter(job, w.write);
    r.report(10);
    w.answer(false);
    await vi.advanceTimersByTimeAsync(0);
    r.report(20);
    await vi.advanceTimersByTimeAsync(5 * PROGRESS_INTERVAL_MS);
    await r.settle();
    expect(w.writes).toHaveLength(1);
  });

  it('checks each value at once, naming the field', () => {
    const r = new ProgressReporter(job, writer().write);
    expect(() => r.report(101)).toThrow(/progress\.percent/);
    expect(() => r.report(5, [] as never)).toThrow(/progress\.details/);
  });
});
