export * from './event-store';
export * from './errors';
export {
  parseStreamName,
  categoryOf,
  type StreamName,
  MAX_STREAM_NAME_LENGTH,
} from './stream-name';
export { encodeBatch, matchesFilter, DEFAULT_MAX_EVENT_BYTES, type EncodedEvent } from './encoding';
export {
  SqliteEventStore,
  type SqliteEventStoreOptions,
  DEFAULT_SQLITE_PATH,
} from './sqlite/sqlite-event-store';
export {
  JetStreamEventStore,
  type JetStreamEventStoreOptions,
} from './jetstream/jetstream-event-store';
export {
  KurrentDbEventStore,
  type KurrentDbEventStoreOptions,
  DEFAULT_KURRENTDB_TIMEOUT_MS,
} from './kurrentdb/kurrentdb-event-store';
export * from './decider-runner';
