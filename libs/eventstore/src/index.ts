export * from './event-store';
export * from './errors';
export { parseStreamName, categoryOf, type StreamName, MAX_STREAM_NAME_LENGTH } from './stream-name';
export { encodeBatch, matchesFilter, DEFAULT_MAX_EVENT_BYTES, type EncodedEvent } from './encoding';
