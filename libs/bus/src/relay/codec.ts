import type { RecordedEvent } from '@strata/eventstore';
import { telemetryEnabled } from '@strata/telemetry';
import { headers as natsHeaders, type Msg, type MsgHdrs } from 'nats';
import { ValidationError } from '../commands/schema';
import { parseWireEvent, toWireEvent } from '../log/wire';
import { RELAY_HEARTBEAT_SUBJECT, eventSubject } from '../subjects';

/**
 * How one event travels on the bus: a JSON body holding the dense sequence, the previous
 * position and the whole envelope, on the subject of the event's stream:
 *
 *   strata.ev.<category>.<id>
 *   {"seq":7,"prev":40,"id":"...","type":"EndpointCreated","schemaVersion":1,"stream":"...",
 *    "revision":3,"position":42,"recordedAt":"2025-01-02T03:04:05.678Z","correlationId":"...",
 *    "causationId":"...","actor":"...","data":{...}}
 *
 * seq is the event's 1-based index in the global log, prev the position of the event before it
 * (0 for the first). The subject still names the stream, so a consumer can subscribe to a
 * category (`strata.ev.endpoint.>`) without parsing anything, and the body reads as it is in
 * `nats sub`. NATS headers carry only W3C trace context (traceparent, tracestate), and only
 * when telemetry is on: readers never decode a header block on the fan-out path (the client's
 * header parsing cost more than the rest of the decode together, measured in bench/convergence).
 *
 * The heartbeat (`strata.ev.$heartbeat`) body is {"seq":N,"position":P,"relay":"holder"}: the
 * relay's last published event.
 */

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
  /** Present only when telemetry is on (trace context goes there). */
  readonly headers: MsgHdrs | undefined;
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

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEventMessage(
  event: RecordedEvent,
  seq: number,
  prevPosition: number,
): OutgoingMessage {
  const body = { seq, prev: prevPosition, ...toWireEvent(event) };
  return {
    subject: eventSubject(event.stream),
    headers: telemetryEnabled() ? natsHeaders() : undefined,
    data: encoder.encode(JSON.stringify(body)),
  };
}

export function encodeHeartbeat(last: BusCheckpoint, relay: string): OutgoingMessage {
  return {
    subject: RELAY_HEARTBEAT_SUBJECT,
    headers: undefined,
    data: encoder.encode(JSON.stringify({ seq: last.seq, position: last.position, relay })),
  };
}

/** Decodes a message received on `strata.ev.>`; throws MalformedBusMessage. */
export function decodeBusMessage(msg: Pick<Msg, 'subject' | 'data'>): BusMessage {
  const { subject } = msg;
  const fail = (reason: string): never => {
    throw new MalformedBusMessage(subject, reason);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(msg.data));
  } catch (error) {
    return fail(`body is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('body is not a JSON object');
  }
  const body = parsed as Record<string, unknown>;
  const integer = (key: string, min: number): number => {
    const value = body[key];
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= min
      ? value
      : fail(`${key} ${JSON.stringify(value)} is not an integer >= ${min}`);
  };
  const text = (key: string, allowEmpty: boolean): string => {
    const value = body[key];
    return typeof value === 'string' && (allowEmpty || value !== '')
      ? value
      : fail(`${key} is not ${allowEmpty ? 'a string' : 'a non-empty string'}`);
  };
  if (subject === RELAY_HEARTBEAT_SUBJECT) {
    return {
      kind: 'heartbeat',
      seq: integer('seq', 0),
      position: integer('position', 0),
      relay: text('relay', true),
    };
  }
  const seq = integer('seq', 1);
  const prevPosition = integer('prev', 0);
  let event: RecordedEvent;
  try {
    event = parseWireEvent(body, '');
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return fail(error.message);
  }
  if (prevPosition >= event.position) {
    fail(`prev ${prevPosition} is not before position ${event.position}`);
  }
  let expectedSubject: string;
  try {
    expectedSubject = eventSubject(event.stream);
  } catch (error) {
    return fail((error as Error).message);
  }
  if (expectedSubject !== subject) {
    fail(`stream ${event.stream} belongs on ${expectedSubject}`);
  }
  return { kind: 'event', seq, prevPosition, event };
}
