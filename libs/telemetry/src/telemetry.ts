import {
  context,
  propagation,
  trace,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  SpanStatusCode,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * OpenTelemetry for Strata: one setup call per process, W3C trace context carried in NATS
 * message headers, and a tracer. Library code only ever uses `@opentelemetry/api`: without
 * `setupTelemetry` every span is a no-op and no `traceparent` header is written, so tracing
 * costs nothing until a process turns it on.
 */

const TRACER_NAME = '@strata';

/** The part of a NATS `MsgHdrs` the propagator needs (kept structural: no NATS import here). */
export interface HeaderCarrier {
  get(key: string): string;
  has(key: string): boolean;
  set(key: string, value: string): void;
  keys(): string[];
}

export interface TelemetryOptions {
  /** `service.name` of every span this process records. */
  readonly serviceName: string;
  /** Where finished spans go (a BatchSpanProcessor over an exporter, or an in-memory one). */
  readonly spanProcessors?: readonly SpanProcessor[];
}

export interface Telemetry {
  readonly provider: BasicTracerProvider;
  /** Flushes the span processors and removes the global provider, context manager and propagator. */
  shutdown(): Promise<void>;
}

/** W3C `traceparent`/`tracestate`, whatever the global propagator is (or is not) set to. */
const propagator = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<HeaderCarrier> = {
  keys: (carrier) => carrier.keys(),
  // MsgHdrs.get returns '' for a missing key; the propagator wants undefined.
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};

const headerSetter: TextMapSetter<HeaderCarrier> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/**
 * Installs a tracer provider, an AsyncLocalStorage context manager (so the active span follows
 * async calls) and the W3C propagator as this process's globals. Call once, at startup.
 */
/** Whether setupTelemetry is in effect: spans are recorded and context propagates. */
let enabled = false;

export function telemetryEnabled(): boolean {
  return enabled;
}

export function setupTelemetry(options: TelemetryOptions): Telemetry {
  enabled = true;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [...(options.spanProcessors ?? [])],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(propagator);
  return {
    provider,
    async shutdown() {
      await provider.shutdown();
      enabled = false;
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The tracer Strata's libraries and services record spans with. */
const NOOP_SPAN: Span = trace.wrapSpanContext({
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: 0,
});

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** Writes the trace context of `ctx` (default: the active one) into message headers. */
export function injectTraceContext(headers: HeaderCarrier, ctx: Context = context.active()): void {
  propagator.inject(ctx, headers, headerSetter);
}

/**
 * The context a received message continues: `base` (default: the active one) with the
 * message's remote span as parent when its headers carry a valid `traceparent`.
 */
export function extractTraceContext(
  headers: HeaderCarrier | undefined,
  base: Context = context.active(),
): Context {
  return headers === undefined || !enabled ? base : propagator.extract(base, headers, headerGetter);
}

/**
 * Runs `fn` inside a new active span under `parent`, records a thrown error on it (status
 * ERROR plus the exception) and ends the span either way.
 */
export async function withSpan<T>(
  name: string,
  options: SpanOptions,
  parent: Context,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  // Without telemetry every span is a no-op: skip making one (this runs once per event per
  // agent on the fan-out path).
  if (!enabled) return fn(NOOP_SPAN);
  return tracer().startActiveSpan(name, options, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}
