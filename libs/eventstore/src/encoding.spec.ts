import { encodeBatch, matchesFilter } from './encoding';
import { EventTooLarge, InvalidEvent } from './errors';

describe('encodeBatch', () => {
  it('fills defaults and serialises the payload once', () => {
    const [encoded] = encodeBatch(
      'segment-blue',
      [{ id: 'cmd-1/0', type: 'SegmentCreated', data: { vni: 7 } }],
      1000,
    );
    expect(encoded).toEqual({
      id: 'cmd-1/0',
      type: 'SegmentCreated',
      schemaVersion: 1,
      correlationId: '',
      causationId: '',
      actor: '',
      data: '{"vni":7}',
    });
  });

  it('counts metadata towards the size limit', () => {
    const event = { id: 'e', type: 'T', data: 'x'.repeat(80), actor: 'a'.repeat(30) };
    expect(() => encodeBatch('segment-blue', [event], 100)).toThrow(EventTooLarge);
    expect(() => encodeBatch('segment-blue', [{ ...event, actor: undefined }], 100)).not.toThrow();
  });

  it('rejects metadata that is not a string', () => {
    const event = { id: 'e', type: 'T', data: 1, actor: 7 as unknown as string };
    expect(() => encodeBatch('segment-blue', [event], 100)).toThrow(InvalidEvent);
  });
});

describe('matchesFilter', () => {
  it('keeps everything without a filter and applies both lists together', () => {
    expect(matchesFilter(undefined, 'node-a', 'NodeRegistered')).toBe(true);
    expect(matchesFilter({ categories: ['node'] }, 'node-a', 'NodeRegistered')).toBe(true);
    expect(matchesFilter({ categories: ['node'] }, 'nodes-a', 'NodeRegistered')).toBe(false);
    expect(
      matchesFilter({ categories: ['node'], eventTypes: ['NodeDown'] }, 'node-a', 'NodeRegistered'),
    ).toBe(false);
    expect(matchesFilter({ eventTypes: [] }, 'node-a', 'NodeRegistered')).toBe(false);
  });
});
