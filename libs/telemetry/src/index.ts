export {
  setupTelemetry,
  telemetryEnabled,
  tracer,
  injectTraceContext,
  extractTraceContext,
  withSpan,
  type HeaderCarrier,
  type Telemetry,
  type TelemetryOptions,
} from './telemetry';
export { LatencyHistogram, DEFAULT_LATENCY_BOUNDS_MS, type HistogramSummary } from './histogram';
