import { afterEach, describe, expect, it } from '@jest/globals';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { headers } from 'nats';
import {
  extractTraceContext,
  injectTraceContext,
  setupTelemetry,
  tracer,
  withSpan,
  type Telemetry,
} from './telemetry';

let telemetry: Telemetry | undefined;

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

describe('trace context in NATS headers', () => {
  it('writes nothing while telemetry is off', () => {
    const h = headers();
    const span = tracer().startSpan('off');
    injectTraceContext(h, trace.setSpan(context.active(), span));
    span.end();
    expect(h.has('traceparent')).toBe(false);
  });

  it('round-trips a span context through traceparent', async () => {
    const exporter = new InMemorySpanExporter();
    telemetry = setupTelemetry({
      serviceName: 'spec',
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const h = headers();
    const producer = tracer().startSpan('publish', { kind: SpanKind.PRODUCER });
    injectTraceContext(h, trace.setSpan(context.active(), producer));
    producer.end();
    expect(h.get('traceparent')).toMatch(
      new RegExp(`^00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01$`),
    );

    const result = await withSpan(
      'process',
      { kind: SpanKind.CONSUMER },
      extractTraceContext(h),
      (span) => span.spanContext().traceId,
    );
    expect(result).toBe(producer.spanContext().traceId);
    const consumer = exporter.getFinishedSpans().find((s) => s.name === 'process');
    expect(consumer?.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer?.parentSpanContext?.isRemote).toBe(true);
  });

  it('ignores a malformed traceparent and records a failing span as an error', async () => {
    const exporter = new InMemorySpanExporter();
    telemetry = setupTelemetry({
      serviceName: 'spec',
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const h = headers();
    h.set('traceparent', 'not-a-trace');
    const parent = extractTraceContext(h);
    expect(trace.getSpanContext(parent)).toBeUndefined();
    await expect(
      withSpan('fails', {}, parent, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const [span] = exporter.getFinishedSpans();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(span.parentSpanContext).toBeUndefined();
  });
});
