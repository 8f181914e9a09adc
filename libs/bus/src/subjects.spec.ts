import { describe, expect, it } from '@jest/globals';
import { InvalidStreamName } from '@strata/eventstore';
import { categorySubject, commandSubject, eventSubject } from './subjects';

describe('subjects', () => {
  it('maps a stream onto strata.ev.<category>.<id>', () => {
    expect(eventSubject('segment-blue')).toBe('strata.ev.segment.blue');
    expect(eventSubject('node-n7.lab')).toBe('strata.ev.node.n7.lab');
    expect(() => eventSubject('Segment blue')).toThrow(InvalidStreamName);
  });

  it('covers a category with a full wildcard, since ids may hold dots', () => {
    expect(categorySubject('node')).toBe('strata.ev.node.>');
  });

  it('builds command subjects from lowercase words only', () => {
    expect(commandSubject('ipam', 'pool', 'allocate')).toBe('strata.ipam.pool.allocate');
    expect(() => commandSubject('ipam', 'pool.*', 'allocate')).toThrow(TypeError);
    expect(() => commandSubject('ev', 'pool', 'allocate')).toThrow(/carries the events/);
  });
});
