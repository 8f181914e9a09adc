import { InvalidStreamName } from './errors';
import { categoryOf, parseStreamName } from './stream-name';

describe('stream names', () => {
  it.each([
    ['segment-blue', 'segment', 'blue'],
    [
      'endpoint-6f1c2a3e-9b7d-4c1e-8a2b-0d9e8f7a6b5c',
      'endpoint',
      '6f1c2a3e-9b7d-4c1e-8a2b-0d9e8f7a6b5c',
    ],
    ['node-ip-10-0-0-1.ec2.internal', 'node', 'ip-10-0-0-1.ec2.internal'],
    ['poolshard-blue:3', 'poolshard', 'blue:3'],
  ])('splits %s into category %s and id %s', (name, category, id) => {
    expect(parseStreamName(name)).toEqual({ category, id });
    expect(categoryOf(name)).toBe(category);
  });

  it.each([[''], ['blue'], ['segment-'], ['Segment-blue'], ['segment-a/b'], ['segment-a.'], [42]])(
    'rejects %j',
    (name) => {
      expect(() => parseStreamName(name)).toThrow(InvalidStreamName);
    },
  );
});
