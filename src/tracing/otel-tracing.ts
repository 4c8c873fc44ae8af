import type * as Api from '@opentelemetry/api';

/** The API package as a dynamic import gives it. */
export type OtelApi = typeof import('@opentelemetry/api');
import type { Job } from '../jobs/model.js';
import type { AttemptOutcome } from '../jobs/outcome.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import type { AttemptSpan, Tracing } from './tracing.js';

/** Links one outcome write span may carry (a batch holds up to the completion batch size). */
const MAX_LINKS = 128;

function outcomeName(outcome: AttemptOutcome | null): string {
  if (outcome === null) return 'lease-lost';
  if (outcome.kind === 'failed') return outcome.retryInSeconds === null ? 'failed' : 'retry';
  return outcome.kind;
}

/**
 * Spans through the OpenTelemetry API, named and attributed after its messaging conventions
 * (`create <queue>` a producer span, `process <queue>` a consumer span; `messaging.system` is
 * `taiat`). A job's spans join the trace of the span that created it, whose context is stored
 * with the job as a W3C traceparent.
 */
export function otelTracing(api: OtelApi): Tracing {
  const tracer = api.trace.getTracer('taiat');
  const remote = (traceparent: string | null): Api.Context => {
    const parsed = traceparent === null ? null : parseTraceparent(traceparent);
    return parsed ? api.trace.setSpanContext(api.ROOT_CONTEXT, { ...parsed, isRemote: true }) : api.ROOT_CONTEXT;
  };
  const links = (traceparents: readonly (string | null | undefined)[], kind: string): Api.Link[] =>
    traceparents.flatMap((tp) => {
      const parsed = tp ? parseTraceparent(tp) : null;
      return parsed ? [{ context: { ...parsed, isRemote: true }, attributes: { 'taiat.link': kind } }] : [];
    });
  const fail = (span: Api.Span, error: unknown) => {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  };

  return {
    enabled: true,
    async create(jobs, fn) {
      const queues = new Set(jobs.map((j) => (typeof j === 'object' && j !== null ? (j as { queue?: unknown }).queue : undefined) ?? 'default'));
      const [first] = queues;
      const queue = queues.size === 1 && typeof first === 'string' ? first : null;
      return tracer.startActiveSpan(`create ${queue ?? 'jobs'}`, {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'taiat', 'messaging.operation.type': 'create', 'messaging.operation.name': 'create',
          ...(queue === null ? {} : { 'messaging.destination.name': queue }),
          'messaging.batch.message_count': jobs.length,
        },
      }, async (span) => {
        try {
          return await fn(formatTraceparent(span.spanContext()));
        } catch (error) {
          fail(span, error);
          throw error;
        } finally {
          span.end();
        }
      });
    },

    attempt(job: Job, workerId: string, dependencyRuns: readonly string[]): AttemptSpan {
      const parent = remote(job.traceContext);
      const claimedAt = job.startedAt ?? new Date();
      const readyAt = job.runAt > job.createdAt ? job.runAt : job.createdAt;
      tracer.startSpan(`wait ${job.queue}`, {
        kind: api.SpanKind.INTERNAL, startTime: readyAt,
        attributes: { 'messaging.system': 'taiat', 'messaging.destination.name': job.queue, 'messaging.message.id': job.id, 'taiat.job.attempt': job.attempts },
      }, parent).end(claimedAt < readyAt ? readyAt : claimedAt);
      const attributes: Api.Attributes = {
        'messaging.system': 'taiat', 'messaging.destination.name': job.queue, 'messaging.message.id': job.id,
        'messaging.operation.type': 'process', 'messaging.operation.name': 'process',
        'taiat.job.name': job.name, 'taiat.job.type': job.jobType, 'taiat.job.attempt': job.attempts,
        'taiat.job.step': job.step, 'taiat.worker.id': workerId,
      };
      if (job.parentId !== null) attributes['taiat.job.parent_id'] = job.parentId;
      const span = tracer.startSpan(`process ${job.queue}`, {
        kind: api.SpanKind.CONSUMER, attributes,
        ...(dependencyRuns.length === 0 ? {} : { links: links(dependencyRuns, 'dependency') }),
      }, parent);
      const context = span.spanContext();
      const active = api.trace.setSpan(api.context.active(), span);
      return {
        traceparent: formatTraceparent(context),
        ids: { trace_id: context.traceId, span_id: context.spanId },
        run: (fn) => api.context.with(active, fn),
        end(outcome) {
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

    async outcomes(attempts, fn) {
      const span = tracer.startSpan('complete', {
        kind: api.SpanKind.INTERNAL,
        links: links(attempts.slice(0, MAX_LINKS), 'attempt'),
        attributes: { 'messaging.system': 'taiat', 'messaging.batch.message_count': attempts.length },
      }, api.ROOT_CONTEXT);
      try {
        return await fn();
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  };
}
