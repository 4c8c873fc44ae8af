import type * as Api from '@opentelemetry/api';
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import type { AttemptSpan, Tracing } from './tracing.js';

/** The API package as a dynamic import gives it. */
export type OtelApi = typeof import('@opentelemetry/api');

/** Links one outcome write span may carry (a batch holds up to the completion batch size). */
const MAX_LINKS = 128;

function outcomeName(outcome: AttemptOutcome | null): string {
  if (outcome === null) return 'lease-lost';
  if (outcome.kind === 'failed') return outcome.retryInSeconds === null ? 'failed' : 'retry';
  return outcome.kind;
}

/** The queue a create call's jobs share, as its span names it; null when they span several. */
function sharedQueue(jobs: readonly unknown[]): string | null {
  const queues = new Set(jobs.map((j) => (typeof j === 'object' && j !== null ? (j as { queue?: unknown }).queue : undefined) ?? 'default'));
  const [first] = queues;
  return queues.size === 1 && typeof first === 'string' ? first : null;
}

/**
 * Spans through the OpenTelemetry API, named and attributed after its messaging conventions
 * (`messaging.system` is `taiat`, the destination a queue): `send <queue>` (producer) for a
 * create call, `process <queue>` (consumer) for an attempt, `settle` (client) for an outcome
 * write. A job's spans join the trace of the span that created it, whose context is stored with
 * the job as a W3C traceparent: its attempts are that span's children and link to it.
 */
export function otelTracing(api: OtelApi): Tracing {
  const tracer = api.trace.getTracer('taiat');
  const remote = (parsed: Api.SpanContext | null): Api.Context =>
    parsed ? api.trace.setSpanContext(api.ROOT_CONTEXT, parsed) : api.ROOT_CONTEXT;
  const spanContext = (traceparent: string | null | undefined): Api.SpanContext | null => {
    const parsed = traceparent ? parseTraceparent(traceparent) : null;
    return parsed ? { ...parsed, isRemote: true } : null;
  };
  const links = (traceparents: readonly (string | null | undefined)[], kind: string): Api.Link[] =>
    traceparents.flatMap((tp) => {
      const context = spanContext(tp);
      return context ? [{ context, attributes: { 'taiat.link': kind } }] : [];
    });
  const fail = (span: Api.Span, error: unknown) => {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  };
  /** Runs `fn` in `span` (active, so that spans made inside are its children), ending it after. */
  const within = async <T>(span: Api.Span, parent: Api.Context, fn: () => Promise<T>): Promise<T> => {
    try {
      return await api.context.with(api.trace.setSpan(parent, span), fn);
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  };

  return {
    enabled: true,
    create(jobs, fn, parentTraceparent) {
      const queue = sharedQueue(jobs);
      // A child job's create (ctx.createJobs) runs under its parent's attempt, whatever context
      // the executor's code is in; a caller's create, under the caller's active span.
      const parent = parentTraceparent === undefined ? api.context.active() : remote(spanContext(parentTraceparent));
      const span = tracer.startSpan(queue === null ? 'send' : `send ${queue}`, {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'taiat', 'messaging.operation.type': 'send', 'messaging.operation.name': 'createJobs',
          ...(queue === null ? {} : { 'messaging.destination.name': queue }),
          'messaging.batch.message_count': jobs.length,
        },
      }, parent);
      return within(span, parent, () => fn(formatTraceparent(span.spanContext())));
    },

    attempt(job: Job, workerId: string, dependencyRuns: readonly string[], readyAt: Date): AttemptSpan {
      const creation = spanContext(job.traceContext);
      const parent = remote(creation);
      const linked = dependencyRuns.length === 0 ? [] : links(dependencyRuns, 'dependency');
      if (creation) linked.push({ context: creation, attributes: { 'taiat.link': 'creation' } });
      // Only the attributes a sampler may look at go in at the start; the rest, and the wait span,
      // only for a span that records (an unsampled attempt costs little more than its ids).
      const span = tracer.startSpan(`process ${job.queue}`, {
        kind: api.SpanKind.CONSUMER, links: linked,
        attributes: { 'messaging.system': 'taiat', 'messaging.operation.type': 'process', 'messaging.destination.name': job.queue },
      }, parent);
      if (span.isRecording()) {
        span.setAttributes({
          'messaging.message.id': job.id, 'messaging.operation.name': 'process',
          'taiat.job.name': job.name, 'taiat.job.type': job.jobType, 'taiat.job.attempt': job.attempts,
          'taiat.job.step': job.step, 'taiat.worker.id': workerId,
        });
        if (job.parentId !== null) span.setAttribute('taiat.job.parent_id', job.parentId);
        // The wait in the queue, from ready to the claim: beside the attempt under the creator's
        // span, or, for a job created without a trace, under the attempt (one trace, not two).
        const claimedAt = job.startedAt ?? new Date();
        tracer.startSpan(`wait ${job.queue}`, {
          kind: api.SpanKind.INTERNAL, startTime: readyAt,
          attributes: { 'messaging.system': 'taiat', 'messaging.destination.name': job.queue, 'messaging.message.id': job.id, 'taiat.job.attempt': job.attempts },
        }, creation ? parent : api.trace.setSpan(api.ROOT_CONTEXT, span)).end(claimedAt < readyAt ? readyAt : claimedAt);
      }
      const context = span.spanContext();
      const active = api.trace.setSpan(api.context.active(), span);
      return {
        traceparent: formatTraceparent(context),
        ids: { trace_id: context.traceId, span_id: context.spanId },
        run: (fn) => api.context.with(active, fn),
        end(outcome) {
          if (!span.isRecording()) return span.end();
          span.setAttribute('taiat.job.outcome', outcomeName(outcome));
          if (outcome?.kind === 'failed' || outcome?.kind === 'cancelled') {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.error });
            span.setAttribute('error.type', outcome.kind === 'failed' ? 'taiat.job_failed' : 'taiat.job_cancelled');
          }
          if (outcome?.kind === 'waiting') span.setAttribute('taiat.job.waiting_for', outcome.jobIds.length);
          span.end();
        },
      };
    },

    outcomes(attempts, fn) {
      const span = tracer.startSpan('settle', {
        kind: api.SpanKind.CLIENT,
        links: links(attempts.slice(0, MAX_LINKS), 'attempt'),
        attributes: {
          'messaging.system': 'taiat', 'messaging.operation.type': 'settle', 'messaging.operation.name': 'writeOutcomes',
          'messaging.batch.message_count': attempts.length,
        },
      }, api.ROOT_CONTEXT);
      return within(span, api.ROOT_CONTEXT, fn);
    },
  };
}
