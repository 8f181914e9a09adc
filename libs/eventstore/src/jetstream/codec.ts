import { headers, type MsgHdrs } from 'nats';
import type { EncodedEvent } from '../encoding';
import { InvalidEvent, StoreUnavailable } from '../errors';
import type { RecordedEvent } from '../event-store';
import { parseStreamName } from '../stream-name';

/**
 * How an event is laid out in JetStream: the subject names its stream, the envelope travels in
 * headers and the JSON payload is the body. The stream sequence is the position and the
 * message timestamp, truncated to milliseconds, is `recordedAt`.
 */
export const HEADER = {
  /** JetStream's own deduplication key: the event id. */
  msgId: 'Nats-Msg-Id',
  type: 'Strata-Type',
  revision: 'Strata-Revision',
  schemaVersion: 'Strata-Schema-Version',
  correlationId: 'Strata-Correlation-Id',
  causationId: 'Strata-Causation-Id',
  actor: 'Strata-Actor',
  /** `<index>/<size>` of the event in the append that wrote it; tells a retry from a reuse. */
  batch: 'Strata-Batch',
} as const;

export const ADAPTER = 'jetstream';

/** Maps stream names to subjects `<prefix>.<category>.<id>` and back. */
export class SubjectMap {
  constructor(readonly prefix: string) {}

  /** Every subject of the store (the JetStream stream's subject filter). */
  get all(): string {
    return `${this.prefix}.>`;
  }

  /** The subject of a stream; the name's alphabet is subject-safe (see stream-name.ts). */
  ofStream(stream: string): string {
    const { category, id } = parseStreamName(stream);
    return `${this.prefix}.${category}.${id}`;
  }

  /** Every subject of a category (a filter). */
  ofCategory(category: string): string {
    return `${this.prefix}.${category}.>`;
  }

  /**
   * The stream a subject belongs to. Ids may contain dots, which are extra subject tokens: the
   * category is the token after the prefix and the id is the rest.
   */
  streamOf(subject: string): string | undefined {
    if (!subject.startsWith(`${this.prefix}.`)) {
      return undefined;
    }
    const rest = subject.slice(this.prefix.length + 1);
    const dot = rest.indexOf('.');
    return dot <= 0 ? undefined : `${rest.slice(0, dot)}-${rest.slice(dot + 1)}`;
  }
}

/** An event ready to publish: checked, its metadata escaped and its body encoded, once. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  /** Header name and escaped value of each non-empty metadata field. */
  readonly metadata: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

const encoder = new TextEncoder();

/** Prepares an encoded event; throws InvalidEvent for metadata no header can carry. */
export function prepareEvent(event: EncodedEvent): PreparedEvent {
  const metadata: [string, string][] = [];
  for (const [name, value] of [
    [HEADER.correlationId, event.correlationId],
    [HEADER.causationId, event.causationId],
    [HEADER.actor, event.actor],
  ] as const) {
    // Empty metadata is left out rather than sent as an empty header.
    if (value !== '') {
      metadata.push([name, escapeMetadata(event.id, value)]);
    }
  }
  return {
    id: event.id,
    type: event.type,
    schemaVersion: event.schemaVersion,
    metadata,
    body: encoder.encode(event.data),
  };
}

/** The headers of one event of an append, at its revision and place in the batch. */
export function eventHeaders(
  event: PreparedEvent,
  revision: number,
  index: number,
  size: number,
): MsgHdrs {
  const h = headers();
  h.set(HEADER.msgId, event.id);
  h.set(HEADER.type, event.type);
  h.set(HEADER.revision, String(revision));
  h.set(HEADER.schemaVersion, String(event.schemaVersion));
  h.set(HEADER.batch, `${index}/${size}`);
  for (const [name, value] of event.metadata) {
    h.set(name, value);
  }
  return h;
}

// Header values are single ASCII lines that clients trim, so metadata outside printable ASCII
// (spaces, line breaks, non-ASCII) is percent-encoded, and so is '%' itself.
const NEEDS_ESCAPE = /[^\x21-\x24\x26-\x7e]/gu;
const LONE_SURROGATE = /\p{Cs}/u;

function escapeMetadata(eventId: string, value: string): string {
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidEvent(
      eventId,
      'metadata must be well-formed Unicode (it has a lone surrogate)',
    );
  }
  return value.replace(NEEDS_ESCAPE, (c) => encodeURIComponent(c));
}

function unescapeMetadata(value: string): string {
  return value.includes('%') ? decodeURIComponent(value) : value;
}

/** A stored message, however it was read (consumer delivery or a get by sequence). */
export interface StoredMessage {
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  readonly data: Uint8Array;
  readonly seq: number;
  readonly timestampMs: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns a stored message back into a RecordedEvent, checking everything: a message that was
 * not written by this adapter (or was damaged) is a StoreUnavailable naming it, never a crash.
 */
export function decodeEvent(subjects: SubjectMap, message: StoredMessage): RecordedEvent {
  const fail = (problem: string): never => {
    throw new StoreUnavailable(
      ADAPTER,
      `message ${message.seq} on ${message.subject} is not a Strata event: ${problem}`,
    );
  };
  const stream = subjects.streamOf(message.subject);
  if (stream === undefined || !isStreamName(stream)) {
    return fail('its subject is not <prefix>.<category>.<id> of a valid stream name');
  }
  if (!Number.isFinite(message.timestampMs)) {
    return fail('it has no readable timestamp');
  }
  const h = message.headers;
  if (h === undefined) {
    return fail('it has no headers');
  }
  const required = (name: string): string => {
    const value = h.get(name);
    return value === '' ? fail(`header ${name} is missing`) : value;
  };
  const id = required(HEADER.msgId);
  const type = required(HEADER.type);
  const revision = integerHeader(required(HEADER.revision), 0, Number.MAX_SAFE_INTEGER);
  const schemaVersion = integerHeader(required(HEADER.schemaVersion), 1, 0xffff);
  if (revision === undefined) {
    return fail(`header ${HEADER.revision} is not a revision`);
  }
  if (schemaVersion === undefined) {
    return fail(`header ${HEADER.schemaVersion} is not a schema version`);
  }
  let data: unknown;
  try {
    data = JSON.parse(decoder.decode(message.data));
  } catch (error) {
    return fail(`its body is not UTF-8 JSON (${(error as Error).message})`);
  }
  let metadata: [string, string, string];
  try {
    metadata = [HEADER.correlationId, HEADER.causationId, HEADER.actor].map((name) =>
      unescapeMetadata(h.get(name)),
    ) as [string, string, string];
  } catch {
    return fail('a metadata header is not percent-encoded correctly');
  }
  return {
    id,
    type,
    schemaVersion,
    stream,
    revision,
    position: message.seq,
    recordedAt: new Date(message.timestampMs),
    correlationId: metadata[0],
    causationId: metadata[1],
    actor: metadata[2],
    data,
  };
}

/** The `<index>/<size>` batch header of a stored message, or undefined when absent/garbled. */
export function batchOf(h: MsgHdrs | undefined): { index: number; size: number } | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(h?.get(HEADER.batch) ?? '');
  return match === null ? undefined : { index: Number(match[1]), size: Number(match[2]) };
}

function isStreamName(stream: string): boolean {
  try {
    parseStreamName(stream);
    return true;
  } catch {
    return false;
  }
}

function integerHeader(value: string, min: number, max: number): number | undefined {
  if (!/^\d{1,16}$/.test(value)) {
    return undefined;
  }
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

/** Milliseconds of a nanosecond Unix timestamp given as decimal text (truncated, no float loss). */
export function nanosTextToMillis(nanos: string): number {
  return nanos.length <= 6 ? 0 : Number(nanos.slice(0, -6));
}

/** Milliseconds of an RFC 3339 time with any number of fraction digits (truncated). */
export function rfc3339ToMillis(time: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (match === null) {
    return Number.NaN;
  }
  const millis = (match[2] ?? '').slice(0, 3).padEnd(3, '0');
  return Date.parse(`${match[1]}.${millis}${match[3]}`);
}
