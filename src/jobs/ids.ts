import { v7 as uuidv7 } from 'uuid';

/**
 * A new job id: a UUIDv7, time-ordered, so ids created together sit together in the primary-key
 * index and it stays compact at millions of rows.
 */
export function newJobId(): string {
  return uuidv7();
}
