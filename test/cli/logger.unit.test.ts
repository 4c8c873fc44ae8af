import { describe, expect, it } from 'vitest';
import { messageWithNewCauses } from '../../src/cli/logger.js';

describe('the CLI logger', () => {
  it('prints a cause once when the message already quotes it, and a new one after it', () => {
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:55432');
    const quoted = new Error(`cannot reach the database at postgres://u:***@127.0.0.1:55432/x: ${refused.message}`, { cause: refused });
    expect(messageWithNewCauses(quoted)).toBe('cannot reach the database at postgres://u:***@127.0.0.1:55432/x: connect ECONNREFUSED 127.0.0.1:55432');
    expect(messageWithNewCauses(new Error('cannot load agents', { cause: new Error('syntax error') }))).toBe('cannot load agents: syntax error');
    const circular = new Error('a');
    circular.cause = new Error('b', { cause: circular });
    expect(messageWithNewCauses(circular)).toBe('a: b');
  });
});
