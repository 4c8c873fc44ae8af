import { ValidationError } from '../errors.js';
import { findJsonProblem } from './json-check.js';
import type { JsonObject } from './model.js';

/** What a running attempt last reported of its progress (`ctx.progress`). */
export type JobProgress = {
  /** 0 to 100, or null when only details were reported. */
  percent: number | null;
  /** A small JSON object of the executor's own (a step name, counts), or null. */
  details: JsonObject | null;
};

/** Largest details object, as JSON text: progress is a status line, not a result. */
export const MAX_PROGRESS_BYTES = 4096;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a `ctx.progress(value, details?)` call: `value` a percentage 0-100 or a details object,
 * `details` an object beside a percentage. Throws a `ValidationError` naming `progress.percent`
 * or `progress.details`; returns the progress to store.
 */
export function checkProgress(value: unknown, details?: unknown): JobProgress {
  if (isObject(value) && details === undefined) return { percent: null, details: checkDetails(value) };
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
    throw new ValidationError('progress.percent', 'must be a number from 0 to 100 (or pass a details object alone)');
  }
  return { percent: value, details: details === undefined || details === null ? null : checkDetails(details) };
}

function checkDetails(details: unknown): JsonObject {
  if (!isObject(details)) throw new ValidationError('progress.details', 'must be a JSON object');
  const problem = findJsonProblem(details, 'progress.details');
  if (problem) throw new ValidationError(problem[0], problem[1]);
  if (Buffer.byteLength(JSON.stringify(details)) > MAX_PROGRESS_BYTES) {
    throw new ValidationError('progress.details', `must be at most ${MAX_PROGRESS_BYTES} bytes as JSON`);
  }
  return details;
}

/** Progress in words: `40%`, `40% (step: "upload")`, `(step: "upload")`. */
export function progressText(progress: JobProgress): string {
  const details = progress.details === null ? '' : Object.entries(progress.details).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ');
  if (progress.percent === null) return `(${details})`;
  return details ? `${progress.percent}% (${details})` : `${progress.percent}%`;
}
