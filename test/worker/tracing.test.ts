import { Writable } from 'node:stream';
import { context, trace, SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobManager } from '../../src/index.js';
import { useWorkerHarness } from '../support/harness.js';
import { agentJob } from '../support/jobs.js';
import { waitFor } from '../support/wait.js';

const harness = useWorkerHarness();
const { db, startWorker, finished } = harness;
const exporter = new InMemorySpanExporter();
let traced: JobManager;

beforeAll(async () => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  traced = await JobManager.connect({ databaseUrl: db.url, tracing: true });
});
afterAll(async () => {
  await traced.close();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const spans = () => exporter.getFinishedSpans();
const named = (name: string, attrs: Attributes = {}) =>
  spans().filter((s) => s.name === name && Object.entries(attrs).every(([k, v]) => s.attributes[k] === v));
const one = (name: string, attrs: Attributes = {}) => {
  const found = named(name, attrs);
  expect(found, `one span ${name} ${JSON.stringify(attrs)}`).toHaveLength(1);
  return found[0]!;
};
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const linksOf = (s: ReadableSpan) => s.links.map((l) => l.context.spanId);
const traceparent = (s: ReadableSpan) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`;

describe('tracing', () => {
  it('joins a graph with a retry and a delegation to the trace that created it', async () => {
    let flaky = 0;
    await startWorker({
      tracing: true, maxConcurrentJobs: 4,
      agents: {
        flaky: () => {
          if (++flaky === 1) throw new Error('first try fails');
          return 'a-done';
        },
        parent: async (_p, ctx) => {
          if (ctx.job.step === 0) {
            const [child] = await ctx.createJobs([agentJob('c', 'leaf')]);
            return ctx.waitFor([child!.id]);
          }
          return 'b-done';
        },
        leaf: () => 'c-done',
      },
    });
    const request = trace.getTracer('test').startSpan('request');
    await context.with(trace.setSpan(context.active(), request), () =>
      traced.createJobs([agentJob('a', 'flaky', [], { maxRetries: 1, retryDelaySeconds: 0.1 }), agentJob('b', 'parent', ['a'])]));
    request.end();
    await finished('b');

    const traceId = request.spanContext().traceId;
    const create = one('send default', { 'messaging.batch.message_count': 2 });
    expect(create.kind).toBe(SpanKind.PRODUCER);
    expect(parentOf(create)).toBe(request.spanContext().spanId);
    expect(create.attributes).toMatchObject({ 'messaging.system': 'taiat', 'messaging.operation.type': 'send', 'messaging.destination.name': 'default' });

    // a: two attempts, each a consumer span under the create span, with its wait before it.
    const aRuns = named('process default', { 'messaging.message.id': 'a' }).sort((x, y) => Number(x.attributes['taiat.job.attempt']) - Number(y.attributes['taiat.job.attempt']));
    expect(aRuns.map((s) => s.attributes['taiat.job.outcome'])).toEqual(['retry', 'completed']);
    expect(aRuns[0]!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'first try fails' });
    for (const run of aRuns) {
      expect(run.kind).toBe(SpanKind.CONSUMER);
      expect(run.spanContext().traceId).toBe(traceId);
      expect(parentOf(run)).toBe(create.spanContext().spanId);
      expect(run.attributes).toMatchObject({
        'messaging.system': 'taiat', 'messaging.operation.type': 'process', 'messaging.destination.name': 'default',
        'messaging.message.id': 'a', 'taiat.job.name': 'a', 'taiat.job.type': 'agent',
      });
      expect(linksOf(run)).toEqual([create.spanContext().spanId]);
    }
    expect(named('wait default', { 'messaging.message.id': 'a' }).map(parentOf)).toEqual([create.spanContext().spanId, create.spanContext().spanId]);

    // b's first step: released by a, linked to a's last run; it created c (a send span under the
    // attempt), whose run is that send span's child.
    const [bStep0, bStep1] = named('process default', { 'messaging.message.id': 'b' }).sort((x, y) => Number(x.attributes['taiat.job.step']) - Number(y.attributes['taiat.job.step']));
    expect(bStep0!.attributes['taiat.job.outcome']).toBe('waiting');
    expect(linksOf(bStep0!)).toEqual([aRuns[1]!.spanContext().spanId, create.spanContext().spanId]);
    const childSend = one('send default', { 'messaging.batch.message_count': 1 });
    expect(parentOf(childSend)).toBe(bStep0!.spanContext().spanId);
    const cRun = one('process default', { 'messaging.message.id': 'c' });
    expect(parentOf(cRun)).toBe(childSend.spanContext().spanId);
    expect(cRun.attributes['taiat.job.parent_id']).toBe('b');
    // b's second step: still under the create span, linked to the child it waited for.
    expect(parentOf(bStep1!)).toBe(create.spanContext().spanId);
    expect(linksOf(bStep1!)).toContain(cRun.spanContext().spanId);
    expect(bStep1!.attributes['taiat.job.outcome']).toBe('completed');
    expect(new Set([...aRuns, bStep0!, bStep1!, cRun].map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));

    // Each outcome write is a span linked to the attempts it wrote.
    const completes = named('settle');
    for (const s of completes) expect(s.attributes['messaging.operation.type']).toBe('settle');
    expect(completes.flatMap(linksOf)).toEqual(expect.arrayContaining([...aRuns, bStep0!, bStep1!, cRun].map((s) => s.spanContext().spanId)));
    // History keeps each job's last attempt, for its dependents' links.
    expect((await harness.jobs.getJob('a'))!.traceContext).toBe(traceparent(aRuns[1]!));
  });

  it('keeps the wait and the attempt of a job created without tracing in one trace', async () => {
    await startWorker({ tracing: true, agents: { leaf: () => 'ok' } });
    await harness.jobs.createJob(agentJob('untraced', 'leaf'));
    await finished('untraced');
    const run = one('process default', { 'messaging.message.id': 'untraced' });
    const wait = one('wait default', { 'messaging.message.id': 'untraced' });
    expect(run.parentSpanContext).toBeUndefined();
    expect(parentOf(wait)).toBe(run.spanContext().spanId);
    expect(wait.spanContext().traceId).toBe(run.spanContext().traceId);
    expect((await harness.jobs.getJob('untraced'))!.traceContext).toBe(traceparent(run));
  });

  it('stores no context and makes no span when tracing is off', async () => {
    await startWorker({ agents: { leaf: () => 'ok' } });
    await harness.jobs.createJob(agentJob('plain', 'leaf'));
    const job = await finished('plain');
    expect(job.traceContext).toBeNull();
    expect(spans()).toEqual([]);
  });

  it('puts the job, its attempt and the span ids on every log line about the job', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
    await startWorker({ tracing: true, queues: ['q1'], logger: pino({ level: 'info' }, sink), agents: { talk: (_p, ctx) => (ctx.logger.info('hello from the job'), 'ok') } });
    await traced.createJob(agentJob('talker', 'talk', [], { queue: 'q1' }));
    await finished('talker');
    const run = one('process q1');
    const fields = { jobId: 'talker', jobName: 'talker', queue: 'q1', attempt: 1, trace_id: run.spanContext().traceId, span_id: run.spanContext().spanId };
    // The agent's own line, and the worker's line about the outcome.
    expect(lines.find((l) => l.msg === 'hello from the job')).toMatchObject(fields);
    await waitFor(async () => lines.find((l) => l.msg === 'job completed'), 'the outcome to be logged');
    expect(lines.find((l) => l.msg === 'job completed')).toMatchObject({ ...fields, outcome: 'completed' });
  });
});
