/** Wall-clock milliseconds, sub-millisecond, anchored to Date.now() (see wall-clock.mjs). */
export declare const wallNow: () => number;
