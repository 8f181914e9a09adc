import { describe, expect, it } from '@jest/globals';
import type { RecordedEvent } from '@strata/eventstore';
import { headers } from 'nats';
import { RELAY_HEARTBEAT_SUBJECT } from '../subjects';
import {
  MalformedBusMessage,
  RelayHeader,
  decodeBusMessage,
  encodeEventMessage,
  encodeHeartbeat,
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

describe('bus codec', () => {
  it('round-trips an event with its envelope in headers and its data as the body', () => {
    const out = encodeEventMessage(event, 7, 40);
    expect(out.subject).toBe('strata.ev.endpoint.pod.web-1');
    expect(out.headers.get(RelayHeader.Seq)).toBe('7');
    expect(out.headers.get(RelayHeader.Actor)).toBe('user:alice@example');
    expect(out.headers.get(RelayHeader.CorrelationId)).toBe(
      'corr%20100%25%20%C3%BCn%C3%AFcode%0Aline',
    );
    expect(JSON.parse(new TextDecoder().decode(out.data))).toEqual(event.data);
    expect(decodeBusMessage(out)).toEqual({ kind: 'event', seq: 7, prevPosition: 40, event });
  });

  it('leaves empty metadata out', () => {
    const out = encodeEventMessage({ ...event, actor: '', causationId: '' }, 1, 0);
    expect(out.headers.has(RelayHeader.Actor)).toBe(false);
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
    ['no headers', (m: ReturnType<typeof encodeEventMessage>) => ({ ...m, headers: undefined })],
    [
      'a seq that is not an integer',
      (m: ReturnType<typeof encodeEventMessage>) => {
        m.headers.set(RelayHeader.Seq, '1e3');
        return m;
      },
    ],
    [
      'a previous position at or after the position',
      (m: ReturnType<typeof encodeEventMessage>) => {
        m.headers.set(RelayHeader.PrevPosition, '42');
        return m;
      },
    ],
    [
      'a subject of another stream',
      (m: ReturnType<typeof encodeEventMessage>) => ({ ...m, subject: 'strata.ev.endpoint.other' }),
    ],
    [
      'a body that is not JSON',
      (m: ReturnType<typeof encodeEventMessage>) => ({ ...m, data: new TextEncoder().encode('{') }),
    ],
    [
      'a stray percent sign',
      (m: ReturnType<typeof encodeEventMessage>) => {
        m.headers.set(RelayHeader.Actor, '100%');
        return m;
      },
    ],
  ])('rejects %s', (_name, spoil) => {
    expect(() => decodeBusMessage(spoil(encodeEventMessage(event, 7, 40)))).toThrow(
      MalformedBusMessage,
    );
  });

  it('rejects a heartbeat without a position', () => {
    const h = headers();
    h.set(RelayHeader.Seq, '3');
    expect(() =>
      decodeBusMessage({ subject: RELAY_HEARTBEAT_SUBJECT, headers: h, data: new Uint8Array() }),
    ).toThrow(/no Strata-Position header/);
  });
});
