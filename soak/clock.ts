/** The soak's clock (the server's, when it is remote), its log line, and its bounded waits. */
import { wallNow, withTimeout as bounded } from '../bench/lib/time.js';

let offsetMs = 0; // server clock minus local clock (0 for the embedded server: same clock)

export function setClockOffset(ms: number): void {
  offsetMs = ms;
}

export const clockOffsetMs = (): number => offsetMs;

/** Wall-clock milliseconds in the server's clock. */
export const wallMs = (): number => wallNow() + offsetMs;

const t0 = wallMs();

export const log = (line: string) => process.stderr.write(`[soak ${((wallMs() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);

/** ISO timestamp with microseconds, for timestamptz parameters. */
export const iso = (ms: number) => new Date(ms).toISOString().replace('Z', `${String(Math.floor((ms % 1) * 1000)).padStart(3, '0')}Z`);

/** A bounded wait whose timer keeps the process alive: a hang ends in a timeout, never in a silent exit. */
export const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => bounded(promise, ms, what, { keepAlive: true });
