import type { ExpectedRevision } from './event-store';

/**
 * Every failure an event store reports is one of these, told apart by `code` (stable across
 * adapters, safe to put on the wire) rather than by `instanceof` across process boundaries.
 */
export abstract class EventStoreError extends Error {
  abstract readonly code: string;
  override get name(): string {
    return this.code;
  }
}

/** The stream is not at the revision the append expected (optimistic concurrency). */
export class WrongExpectedRevision extends EventStoreError {
  readonly code = 'WrongExpectedRevision';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** The stream's last revision, or 'no-stream' when it has no events. */
    readonly actual: number | 'no-stream',
  ) {
    super(`stream ${stream}: expected revision ${expected}, actual ${actual}`);
  }
}

/** A read of a stream that has no events. */
export class StreamNotFound extends EventStoreError {
  readonly code = 'StreamNotFound';
  constructor(readonly stream: string) {
    super(`stream ${stream} not found`);
  }
}

/** One event's encoded size is over the store's limit. Nothing of its batch was appended. */
export class EventTooLarge extends EventStoreError {
  readonly code = 'EventTooLarge';
  constructor(
    readonly eventId: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`event ${eventId} is ${size} bytes; the limit is ${limit}`);
  }
}

/** A stream name that is not `<category>-<id>` in the allowed alphabet. */
export class InvalidStreamName extends EventStoreError {
  readonly code = 'InvalidStreamName';
  constructor(
    readonly stream: string,
    readonly reason: string,
  ) {
    super(`invalid stream name ${JSON.stringify(stream)}: ${reason}`);
  }
}

/** An event to append that is malformed (missing id or type, data not JSON, bad metadata). */
export class InvalidEvent extends EventStoreError {
  readonly code = 'InvalidEvent';
  constructor(
    readonly eventId: string | undefined,
    readonly reason: string,
  ) {
    super(`invalid event${eventId === undefined ? '' : ` ${eventId}`}: ${reason}`);
  }
}

/**
 * An event id already appended as part of a different write (another stream, or a batch that
 * was not this one). A retry of exactly the same batch is not an error: it returns the original
 * result.
 */
export class DuplicateEventId extends EventStoreError {
  readonly code = 'DuplicateEventId';
  constructor(
    readonly eventId: string,
    readonly stream: string,
  ) {
    super(`event ${eventId} was already appended by a different write (appending to ${stream})`);
  }
}

/** The store cannot be reached or failed underneath; the operation may be retried. */
export class StoreUnavailable extends EventStoreError {
  readonly code = 'StoreUnavailable';
  constructor(
    readonly adapter: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${adapter} event store unavailable: ${message}`, options);
  }
}
