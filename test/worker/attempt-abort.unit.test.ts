import { describe, expect, it } from 'vitest';
import { AttemptAbort } from '../../src/worker/attempt-abort.js';

describe('AttemptAbort', () => {
  it('gives a signal aborted with the first reason, whether it was read before or after the abort', () => {
    const early = new AttemptAbort();
    const signal = early.signal;
    early.abort('timeout');
    early.abort('cancelled');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('timeout');
    expect(early.reason).toBe('timeout');

    const late = new AttemptAbort();
    late.abort('cancelled');
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe('cancelled');
  });

  it('rejects aborted() with the reason, at once when already aborted, and not after settle()', async () => {
    const a = new AttemptAbort();
    const waiting = a.aborted();
    a.abort('lease-lost');
    await expect(waiting).rejects.toBe('lease-lost');
    await expect(a.aborted()).rejects.toBe('lease-lost');

    const b = new AttemptAbort();
    let settled = false;
    void b.aborted().catch(() => (settled = true));
    b.settle();
    b.abort('shutdown');
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    expect(b.signal.reason).toBe('shutdown');
  });
});
