// A database outage is one warning and one line when it ends, not an error with a stack from every
// loop that retries; a pooler's dropped prepared statements come with the setting that fixes them.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SurvivalLog } from '../../src/worker/survival-log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  return { log, lines };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('SurvivalLog', () => {
  it('tells an outage once, without a stack, and its end with how long it lasted', () => {
    const { log, lines } = capture();
    const survival = new SurvivalLog(() => log);
    survival.reachable(); // no outage: nothing to say
    for (let i = 0; i < 13; i++) survival.survived(refused(), refused());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, error: 'connect ECONNREFUSED 127.0.0.1:5432' });
    expect(JSON.stringify(lines[0])).not.toContain('stack');
    survival.reachable();
    survival.reachable();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 30, msg: 'database reachable again', retriesFailed: 12 });
    survival.survived(refused(), refused()); // a second outage is told again
    expect(lines).toHaveLength(3);
  });

  it('keeps other errors at error level with their stack, and names the setting for a pooler, once', () => {
    const { log, lines } = capture();
    const survival = new SurvivalLog(() => log);
    const pooled = () => Object.assign(new Error('prepared statement "p1" does not exist'), { code: '26000' });
    survival.survived(pooled(), pooled());
    survival.survived(pooled(), pooled());
    survival.survived(new Error('boom'), new Error('boom'));
    expect(lines.map((l) => l.level)).toEqual([50, 50, 50]);
    expect(lines[0]!.hint).toMatch(/--transaction-pooling/);
    expect(lines[1]!.hint).toBeUndefined();
    expect((lines[2]!.err as { stack: string }).stack).toContain('boom');
  });
});
