import type { Job } from '../jobs/model.js';
import { parseTraceparent } from '../tracing/traceparent.js';

/** What every log line about a job carries: the job, its queue and attempt, and its span when traced. */
export interface JobLogFields {
  jobId: string;
  jobName: string;
  queue: string;
  attempt: number;
  trace_id?: string;
  span_id?: string;
}

/**
 * The fields of a log line about `job`; `traceContext`, the attempt's traceparent (tracing on),
 * adds its `trace_id` and `span_id` (OpenTelemetry's log field names), so that logs and traces join.
 */
export function jobLogFields(job: Job, traceContext?: string | null): JobLogFields {
  const fields: JobLogFields = { jobId: job.id, jobName: job.name, queue: job.queue, attempt: job.attempts };
  const span = traceContext ? parseTraceparent(traceContext) : null;
  if (span) {
    fields.trace_id = span.traceId;
    fields.span_id = span.spanId;
  }
  return fields;
}
