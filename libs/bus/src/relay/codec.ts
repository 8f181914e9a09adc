import type { RecordedEvent } from '@strata/eventstore';
import { headers as natsHeaders, type Msg, type MsgHdrs } from 'nats';
import { RELAY_HEARTBEAT_SUBJECT, eventSubject } from '../subjects';

/**
 * How one event travels on the bus. The body is the event's data as JSON (what the store
 * holds, readable with `nats sub`); the envelope travels in headers, so a consumer can route
 * or skip a message without parsing its body, and the reader rebuilds the exact RecordedEvent:
 *
 *   Strata-Seq            dense 1-based index of the event in the global log
 *   Strata-Position       its global position
 *   Strata-Prev-Position  the position of the event before it in the global log (0 for the first)
 *   Strata-Event-Id, -Event-Type, -Schema-Version, -Stream, -Revision, -Recorded-At (ISO 8601)
 *   Strata-Correlation-Id, -Causation-Id, -Actor  (absent when empty)
 *   traceparent / tracestate (W3C, when telemetry is on)
 *
 * Metadata strings are free text in the store, so they are percent-encoded for headers: every
 * byte outside printable ASCII, plus space and `%`, becomes `%XX` (UTF-8), so a plain
 * `user:alice@example` reads as itself.
 *
 * The heartbeat (`strata.ev.$heartbeat`, empty body) carries the relay's last published
 * Strata-Seq and Strata-Position and its holder id in Strata-Relay.
 */

export const RelayHeader = {
  Seq: 'Strata-Seq',
  Position: 'Strata-Position',
  PrevPosition: 'Strata-Prev-Position',
  EventId: 'Strata-Event-Id',
  EventType: 'Strata-Event-Type',
  SchemaVersion: 'Strata-Schema-Version',
  Stream: 'Strata-Stream',
  Revision: 'Strata-Revision',
  RecordedAt: 'Strata-Recorded-At',
  CorrelationId: 'Strata-Correlation-Id',
  CausationId: 'Strata-Causation-Id',
  Actor: 'Strata-Actor',
  Relay: 'Strata-Relay',
} as const;

/** Where a bus consumer (or the relay) stands: a global position and its dense sequence. */
export interface BusCheckpoint {
  readonly position: number;
  /** How many events of the global log are at or before `position`. */
  readonly seq: number;
}

export const START_OF_LOG: BusCheckpoint = { position: 0, seq: 0 };

export interface BusEventMessage {
  readonly kind: 'event';
  readonly seq: number;
  readonly prevPosition: number;
  readonly event: RecordedEvent;
}

export interface HeartbeatMessage {
  readonly kind: 'heartbeat';
  readonly seq: number;
  readonly position: number;
  readonly relay: string;
}

export type BusMessage = BusEventMessage | HeartbeatMessage;

export interface OutgoingMessage {
  readonly subject: string;
  readonly headers: MsgHdrs;
  readonly data: Uint8Array;
}

/** A message on `strata.ev.>` that is not a well-formed event or heartbeat. */
export class MalformedBusMessage extends Error {
  readonly code = 'MalformedBusMessage';
  constructor(
    readonly subject: string,
    readonly reason: string,
  ) {
    super(`malformed message on ${subject}: ${reason}`);
    this.name = 'MalformedBusMessage';
  }
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEventMessage(
  event: RecordedEvent,
  seq: number,
  prevPosition: number,
): OutgoingMessage {
  const h = natsHeaders();
  h.set(RelayHeader.Seq, String(seq));
  h.set(RelayHeader.Position, String(event.position));
  h.set(RelayHeader.PrevPosition, String(prevPosition));
  h.set(RelayHeader.EventId, event.id);
  h.set(RelayHeader.EventType, event.type);
  h.set(RelayHeader.SchemaVersion, String(event.schemaVersion));
  h.set(RelayHeader.Stream, event.stream);
  h.set(RelayHeader.Revision, String(event.revision));
  h.set(RelayHeader.RecordedAt, event.recordedAt.toISOString());
  setText(h, RelayHeader.CorrelationId, event.correlationId);
  setText(h, RelayHeader.CausationId, event.causationId);
  setText(h, RelayHeader.Actor, event.actor);
  return {
    subject: eventSubject(event.stream),
    headers: h,
    data: encoder.encode(JSON.stringify(event.data)),
  };
}

export function encodeHeartbeat(last: BusCheckpoint, relay: string): OutgoingMessage {
  const h = natsHeaders();
  h.set(RelayHeader.Seq, String(last.seq));
  h.set(RelayHeader.Position, String(last.position));
  h.set(RelayHeader.Relay, relay);
  return { subject: RELAY_HEARTBEAT_SUBJECT, headers: h, data: EMPTY };
}

/** Decodes a message received on `strata.ev.>`; throws MalformedBusMessage. */
export function decodeBusMessage(msg: Pick<Msg, 'subject' | 'headers' | 'data'>): BusMessage {
  const { subject } = msg;
  const h = msg.headers;
  if (h === undefined) {
    throw new MalformedBusMessage(subject, 'no headers');
  }
  const fail = (reason: string): never => {
    throw new MalformedBusMessage(subject, reason);
  };
  const required = (key: string): string => (h.has(key) ? h.get(key) : fail(`no ${key} header`));
  const integer = (key: string, min: number): number => {
    const text = required(key);
    const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
    return Number.isSafeInteger(value) && value >= min
      ? value
      : fail(`${key} ${JSON.stringify(text)} is not an integer >= ${min}`);
  };
  if (subject === RELAY_HEARTBEAT_SUBJECT) {
    return {
      kind: 'heartbeat',
      seq: integer(RelayHeader.Seq, 0),
      position: integer(RelayHeader.Position, 0),
      relay: h.get(RelayHeader.Relay),
    };
  }
  const seq = integer(RelayHeader.Seq, 1);
  const position = integer(RelayHeader.Position, 1);
  const prevPosition = integer(RelayHeader.PrevPosition, 0);
  if (prevPosition >= position) {
    fail(`${RelayHeader.PrevPosition} ${prevPosition} is not before position ${position}`);
  }
  const stream = required(RelayHeader.Stream);
  let expectedSubject: string;
  try {
    expectedSubject = eventSubject(stream);
  } catch (error) {
    return fail((error as Error).message);
  }
  if (expectedSubject !== subject) {
    fail(`stream ${stream} belongs on ${expectedSubject}`);
  }
  const recordedAt = new Date(required(RelayHeader.RecordedAt));
  if (Number.isNaN(recordedAt.getTime())) {
    fail(`${RelayHeader.RecordedAt} is not a time`);
  }
  let data: unknown;
  try {
    data = JSON.parse(decoder.decode(msg.data));
  } catch (error) {
    fail(`body is not JSON: ${(error as Error).message}`);
  }
  return {
    kind: 'event',
    seq,
    prevPosition,
    event: {
      id: required(RelayHeader.EventId),
      type: required(RelayHeader.EventType),
      schemaVersion: integer(RelayHeader.SchemaVersion, 1),
      stream,
      revision: integer(RelayHeader.Revision, 0),
      position,
      recordedAt,
      correlationId: getText(h, RelayHeader.CorrelationId, fail),
      causationId: getText(h, RelayHeader.CausationId, fail),
      actor: getText(h, RelayHeader.Actor, fail),
      data,
    },
  };
}

// Printable ASCII except space and '%' stays as it is.
const UNSAFE = /[^\x21-\x24\x26-\x7e]/u;
const UNSAFE_ALL = /[^\x21-\x24\x26-\x7e]/gu;

function setText(h: MsgHdrs, key: string, value: string): void {
  if (value === '') {
    return;
  }
  h.set(
    key,
    UNSAFE.test(value)
      ? value.replace(UNSAFE_ALL, (ch) =>
          Array.from(
            encoder.encode(ch),
            (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
          ).join(''),
        )
      : value,
  );
}

function getText(h: MsgHdrs, key: string, fail: (reason: string) => never): string {
  if (!h.has(key)) {
    return '';
  }
  try {
    return decodeURIComponent(h.get(key));
  } catch {
    return fail(`${key} is not percent-encoded UTF-8`);
  }
}
