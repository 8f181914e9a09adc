import { describe, expect, it } from '@jest/globals';
import type { RecordedEvent } from '@strata/eventstore';
import { RELAY_HEARTBEAT_SUBJECT } from '../subjects';
import {
  MalformedBusMessage,
  decodeBusMessage,
  encodeEventMessage,
  encodeHeartbeat,
  type OutgoingMessage,
} from './codec';

const event: RecordedEvent = {
  id: 'cmd-1:0',
  type: 'EndpointAttached',
  schemaVersion: 2,
  stream: 'endpoint-pod.web-1',
  revision: 3,
  position: 42,
  recordedAt: new Date('2025-01-02T03:04:05.678Z'),
  correlationId: 'corr 100% ünïcode\nline',
  causationId: 'cmd-1',
  actor: 'user:alice@example',
  data: { ip: '10.0.0.7', labels: { tier: 'web' } },
};

const decoder = new TextDecoder();
const body = (out: OutgoingMessage) =>
  JSON.parse(decoder.decode(out.data)) as Record<string, unknown>;
const withBody = (out: OutgoingMessage, change: (b: Record<string, unknown>) => void) => {
  const b = body(out);
  change(b);
  return { ...out, data: new TextEncoder().encode(JSON.stringify(b)) };
};

describe('bus codec', () => {
  it('round-trips an event with its sequence and envelope in a JSON body', () => {
    const out = encodeEventMessage(event, 7, 40);
    expect(out.subject).toBe('strata.ev.endpoint.pod.web-1');
    expect(out.headers).toBeUndefined(); // telemetry is off: no header block at all
    expect(body(out)).toMatchObject({
      seq: 7,
      prev: 40,
      actor: 'user:alice@example',
      correlationId: 'corr 100% ünïcode\nline',
      recordedAt: '2025-01-02T03:04:05.678Z',
      data: event.data,
    });
    expect(decodeBusMessage(out)).toEqual({ kind: 'event', seq: 7, prevPosition: 40, event });
  });

  it('keeps empty metadata empty', () => {
    const out = encodeEventMessage({ ...event, actor: '', causationId: '' }, 1, 0);
    const decoded = decodeBusMessage(out);
    expect(decoded.kind === 'event' && decoded.event.actor).toBe('');
  });

  it('round-trips a heartbeat', () => {
    const out = encodeHeartbeat({ seq: 9, position: 12 }, 'relay-a');
    expect(out.subject).toBe(RELAY_HEARTBEAT_SUBJECT);
    expect(decodeBusMessage(out)).toEqual({
      kind: 'heartbeat',
      seq: 9,
      position: 12,
      relay: 'relay-a',
    });
  });

  it.each([
    ['a seq that is not an integer', (m: OutgoingMessage) => withBody(m, (b) => (b.seq = '1e3'))],
    [
      'a previous position at or after the position',
      (m: OutgoingMessage) => withBody(m, (b) => (b.prev = 42)),
    ],
    [
      'a subject of another stream',
      (m: OutgoingMessage) => ({ ...m, subject: 'strata.ev.endpoint.other' }),
    ],
    [
      'a body that is not JSON',
      (m: OutgoingMessage) => ({ ...m, data: new TextEncoder().encode('{') }),
    ],
    [
      'a body that is an array',
      (m: OutgoingMessage) => ({ ...m, data: new TextEncoder().encode('[]') }),
    ],
    ['a time that is not one', (m: OutgoingMessage) => withBody(m, (b) => (b.recordedAt = 'noon'))],
    ['no data', (m: OutgoingMessage) => withBody(m, (b) => delete b.data)],
    ['an empty event id', (m: OutgoingMessage) => withBody(m, (b) => (b.id = ''))],
    ['invalid UTF-8', (m: OutgoingMessage) => ({ ...m, data: new Uint8Array([0x7b, 0xff, 0x7d]) })],
  ])('rejects %s', (_name, spoil) => {
    expect(() => decodeBusMessage(spoil(encodeEventMessage(event, 7, 40)))).toThrow(
      MalformedBusMessage,
    );
  });

  it('rejects a heartbeat without a position', () => {
    expect(() =>
      decodeBusMessage({
        subject: RELAY_HEARTBEAT_SUBJECT,
        data: new TextEncoder().encode('{"seq":3,"relay":"r"}'),
      }),
    ).toThrow(/position undefined is not an integer/);
  });
});
