import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

// uuid asks the OS for 16 random bytes per id (getRandomValues each time); a pool refilled 1,024
// ids at a time cut createJobs of 20,000 jobs by ~0.4 s in a CPU profile. Passing our bytes
// bypasses uuid's own monotonic state, so the millisecond and the sequence are kept here the
// way uuid keeps them: a new random sequence each millisecond, +1 within one.
const POOL_IDS = 1024;
const pool = Buffer.alloc(16 * POOL_IDS);
let next = POOL_IDS;
let lastMsecs = -Infinity;
let seq = 0;

/**
 * A new job id: a UUIDv7, time-ordered (strictly increasing within a process), so ids created
 * together sit together in the primary-key index and it stays compact at millions of rows.
 */
export function newJobId(): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const random = pool.subarray(next * 16, ++next * 16);
  const now = Date.now();
  if (now > lastMsecs) {
    lastMsecs = now;
    seq = random.readUInt32BE(0) & 0x3ffffff; // leave headroom for increments within the millisecond
  } else if (++seq > 0x7fffffff) {
    lastMsecs += 1;
    seq = 0;
  }
  return uuidv7({ random, msecs: lastMsecs, seq });
}
