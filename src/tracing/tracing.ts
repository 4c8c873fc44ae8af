import { ValidationError } from '../errors.js';
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';

/** The ids that join a log line to its span. */
export interface SpanIds {
  trace_id: string;
  span_id: string;
}

/** One attempt's span, from its start to its outcome. */
export interface AttemptSpan {
  /** The span's W3C traceparent: stored with the jobs it creates and with its outcome. */
  readonly traceparent: string | null;
  /** For log lines about the attempt. */
  readonly ids: SpanIds | null;
  /** Runs `fn` with the span active, so that spans the executor starts are its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with what the attempt came to (null: its lease was lost). */
  end(outcome: AttemptOutcome | null): void;
}

/**
 * What taiat traces, behind one interface so that a worker or manager without tracing pays for
 * nothing: `NO_TRACING` answers every call without allocating, and `@opentelemetry/api` is loaded
 * only when tracing is asked for.
 */
export interface Tracing {
  readonly enabled: boolean;
  /**
   * Runs a create call (`jobs`: the caller's input) in a span, named for the jobs' queue when they
   * share one, under `parent` (a traceparent: a child job's create under its parent's attempt)
   * or else the caller's active span; `fn` gets the traceparent to store with the jobs.
   */
  create<T>(jobs: readonly unknown[], fn: (traceparent: string | null) => Promise<T>, parent?: string | null): Promise<T>;
  /**
   * Starts a claimed job's attempt: records its wait in the queue (from `readyAt`: creation,
   * `runAt` or its last dependency's completion, to the claim) and opens its run span, a child of
   * the span that created the job, linked to the last attempts of its dependencies (`links`: their
   * traceparents).
   */
  attempt(job: Job, workerId: string, links: readonly string[], readyAt: Date): AttemptSpan;
  /** Runs an outcome write in a span linked to the attempts (their traceparents) whose outcomes it writes. */
  outcomes<T>(attempts: readonly (string | null | undefined)[], fn: () => Promise<T>): Promise<T>;
}

const NO_SPAN: AttemptSpan = {
  traceparent: null,
  ids: null,
  run: (fn) => fn(),
  end: () => {},
};

export const NO_TRACING: Tracing = {
  enabled: false,
  create: (_jobs, fn) => fn(null),
  attempt: () => NO_SPAN,
  outcomes: (_attempts, fn) => fn(),
};

/**
 * The tracing a worker or manager uses: `NO_TRACING` unless `enabled`, else spans through the
 * OpenTelemetry API (an optional peer dependency; an error naming the option when it is missing).
 * Spans go wherever the application's registered tracer provider sends them.
 */
export async function loadTracing(enabled: boolean, field = 'tracing'): Promise<Tracing> {
  if (!enabled) return NO_TRACING;
  let api: import('./otel-tracing.js').OtelApi;
  try {
    api = await import('@opentelemetry/api');
  } catch {
    throw new ValidationError(field, 'tracing needs the @opentelemetry/api package (npm install @opentelemetry/api)', 'TAIAT_CONFIG_INVALID');
  }
  const { otelTracing } = await import('./otel-tracing.js');
  return otelTracing(api);
}
