import type { RecordedEvent } from '@strata/eventstore';
import { integer, object, optional, ValidationError, type Infer } from '../commands/schema';

/**
 * The wire form of log reads (`strata.log.read`). Queries carry no command id: reading is
 * idempotent, a retry is just another read.
 *
 * Request: `{ after, until?, maxEvents? }` — events with position > after (and <= until).
 * Reply:   `{ ok: true, data: { events, last, end } }` where `events` are in log order, `last`
 *          is the position the page read up to (pass it as the next `after`) and `end` says the
 *          range (or the log) is exhausted; or `{ ok: false, error: { code, message } }`.
 */

/** Most events one page holds; a page also stops once it passes MAX_PAGE_BYTES. */
export const MAX_PAGE_EVENTS = 2_000;
/** Soft byte limit of a page: well under NATS's default 1 MiB max_payload. */
export const MAX_PAGE_BYTES = 512 * 1024;

const position = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

export const logReadRequest = object({
  after: position,
  until: optional(position),
  maxEvents: optional(integer({ min: 1, max: MAX_PAGE_EVENTS })),
});
export type LogReadRequest = Infer<typeof logReadRequest>;

/** A RecordedEvent as JSON: the time as ISO 8601 text. */
export interface WireEvent {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly stream: string;
  readonly revision: number;
  readonly position: number;
  readonly recordedAt: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly actor: string;
  readonly data: unknown;
}

export interface LogPage {
  readonly events: readonly WireEvent[];
  readonly last: number;
  readonly end: boolean;
}

export function toWireEvent(event: RecordedEvent): WireEvent {
  return {
    id: event.id,
    type: event.type,
    schemaVersion: event.schemaVersion,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    recordedAt: event.recordedAt.toISOString(),
    correlationId: event.correlationId,
    causationId: event.causationId,
    actor: event.actor,
    data: event.data,
  };
}

/**
 * Checks a page read back from the wire and rebuilds its events; throws ValidationError on
 * anything that is not a page of well-formed events in strictly increasing position order
 * within the requested range.
 */
export function parseLogPage(
  value: unknown,
  request: LogReadRequest,
): {
  events: RecordedEvent[];
  last: number;
  end: boolean;
} {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('', 'a log page must be an object { events, last, end }');
  }
  const page = value as Record<string, unknown>;
  if (!Array.isArray(page.events)) throw invalid('events', 'must be an array');
  if (typeof page.end !== 'boolean') throw invalid('end', 'must be a boolean');
  const last = position.parse(page.last, 'last');
  let previous = request.after;
  const events = page.events.map((item, index) => {
    const event = parseWireEvent(item, `events[${index}]`);
    if (event.position <= previous) {
      throw invalid(`events[${index}].position`, `${event.position} is not after ${previous}`);
    }
    if (request.until !== undefined && event.position > request.until) {
      throw invalid(`events[${index}].position`, `${event.position} is past ${request.until}`);
    }
    previous = event.position;
    return event;
  });
  if (last < previous) throw invalid('last', `${last} is before the page's last event`);
  return { events, last, end: page.end };
}

/** A WireEvent read back (fields beyond the envelope are ignored); throws ValidationError. */
export function parseWireEvent(value: unknown, path: string): RecordedEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(path, 'must be an event object');
  }
  const event = value as Record<string, unknown>;
  const at = (field: string): string => (path === '' ? field : `${path}.${field}`);
  const text = (field: string, allowEmpty: boolean): string => {
    const item = event[field];
    if (typeof item !== 'string' || (!allowEmpty && item === '')) {
      throw invalid(at(field), 'must be a non-empty string');
    }
    return item;
  };
  const count = (field: string, min: number): number =>
    integer({ min, max: Number.MAX_SAFE_INTEGER }).parse(event[field], at(field));
  const recordedAt = new Date(text('recordedAt', false));
  if (Number.isNaN(recordedAt.getTime())) {
    throw invalid(at('recordedAt'), 'must be an ISO 8601 time');
  }
  if (!('data' in event)) throw invalid(at('data'), 'is missing');
  return {
    id: text('id', false),
    type: text('type', false),
    schemaVersion: count('schemaVersion', 1),
    stream: text('stream', false),
    revision: count('revision', 0),
    position: count('position', 1),
    recordedAt,
    correlationId: text('correlationId', true),
    causationId: text('causationId', true),
    actor: text('actor', true),
    data: event.data,
  };
}

function invalid(path: string, message: string): ValidationError {
  return new ValidationError('InvalidRequest', `${path ? `${path} ` : ''}${message}`, path);
}
