import { EventTooLarge, InvalidEvent } from './errors';
import type { EventFilter, EventToAppend } from './event-store';
import { parseStreamName } from './stream-name';

/** An event checked and serialised once, before any adapter touches its store. */
export interface EncodedEvent {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly correlationId: string;
  readonly causationId: string;
  readonly actor: string;
  /** The payload as JSON text. */
  readonly data: string;
}

/** Default limit on one encoded event, below NATS's default 1 MiB max_payload with headers. */
export const DEFAULT_MAX_EVENT_BYTES = 1_000_000;

const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.]{0,127}$/;
const MAX_ID_LENGTH = 128;
const MAX_METADATA_LENGTH = 512;
// Ids travel in NATS headers (Nats-Msg-Id) and as SQL keys: printable ASCII without spaces.
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Validates a batch for `stream` and encodes it. Every adapter calls this first, so they all
 * reject the same input with the same typed error and none of a bad batch is written.
 */
export function encodeBatch(
  stream: string,
  events: readonly EventToAppend[],
  maxEventBytes: number,
): EncodedEvent[] {
  parseStreamName(stream);
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidEvent(undefined, 'an append needs at least one event');
  }
  const seen = new Set<string>();
  return events.map((event) => {
    const encoded = encodeEvent(event);
    if (seen.has(encoded.id)) {
      throw new InvalidEvent(encoded.id, 'the same id appears twice in one append');
    }
    seen.add(encoded.id);
    const size =
      Buffer.byteLength(encoded.data) +
      Buffer.byteLength(encoded.type) +
      Buffer.byteLength(encoded.correlationId) +
      Buffer.byteLength(encoded.causationId) +
      Buffer.byteLength(encoded.actor) +
      encoded.id.length;
    if (size > maxEventBytes) {
      throw new EventTooLarge(encoded.id, size, maxEventBytes);
    }
    return encoded;
  });
}

function encodeEvent(event: EventToAppend): EncodedEvent {
  if (typeof event !== 'object' || event === null) {
    throw new InvalidEvent(undefined, 'not an object');
  }
  const { id, type } = event;
  if (
    typeof id !== 'string' ||
    id.length === 0 ||
    id.length > MAX_ID_LENGTH ||
    !PRINTABLE_ASCII.test(id)
  ) {
    throw new InvalidEvent(
      typeof id === 'string' ? id : undefined,
      `id must be 1-${MAX_ID_LENGTH} printable ASCII characters without spaces`,
    );
  }
  if (typeof type !== 'string' || !EVENT_TYPE.test(type)) {
    throw new InvalidEvent(id, 'type must be a letter followed by letters, digits, _ or .');
  }
  const schemaVersion = event.schemaVersion ?? 1;
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > 0xffff) {
    throw new InvalidEvent(id, 'schemaVersion must be an integer from 1 to 65535');
  }
  return {
    id,
    type,
    schemaVersion,
    correlationId: metadata(id, 'correlationId', event.correlationId),
    causationId: metadata(id, 'causationId', event.causationId),
    actor: metadata(id, 'actor', event.actor),
    data: encodeData(id, event.data),
  };
}

function metadata(id: string, field: string, value: unknown): string {
  if (value === undefined) {
    return '';
  }
  if (typeof value !== 'string' || value.length > MAX_METADATA_LENGTH) {
    throw new InvalidEvent(
      id,
      `${field} must be a string of at most ${MAX_METADATA_LENGTH} characters`,
    );
  }
  return value;
}

function encodeData(id: string, data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new InvalidEvent(id, `data is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (json === undefined) {
    throw new InvalidEvent(id, 'data is not JSON-serialisable');
  }
  return json;
}

/** Does an event of `type` in `stream` pass the filter? */
export function matchesFilter(
  filter: EventFilter | undefined,
  stream: string,
  type: string,
): boolean {
  if (filter === undefined) {
    return true;
  }
  if (filter.eventTypes !== undefined && !filter.eventTypes.includes(type)) {
    return false;
  }
  if (filter.categories !== undefined) {
    const dash = stream.indexOf('-');
    return filter.categories.includes(dash < 0 ? stream : stream.slice(0, dash));
  }
  return true;
}
