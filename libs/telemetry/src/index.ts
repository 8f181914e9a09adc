export {
  setupTelemetry,
  tracer,
  injectTraceContext,
  extractTraceContext,
  withSpan,
  type HeaderCarrier,
  type Telemetry,
  type TelemetryOptions,
} from './telemetry';
