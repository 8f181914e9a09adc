import { describe, expect, it } from '@jest/globals';
import {
  array,
  boolean,
  integer,
  number,
  object,
  oneOf,
  optional,
  refine,
  string,
  ValidationError,
} from './schema';

function failure(parse: () => unknown): { code: string; path: string; message: string } {
  try {
    parse();
  } catch (error) {
    if (error instanceof ValidationError) {
      return { code: error.code, path: error.path, message: error.message };
    }
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('schema', () => {
  const pool = object({
    poolId: string({ minLength: 1, maxLength: 8 }),
    kind: oneOf(['pod', 'vip'] as const),
    shards: optional(integer({ min: 1, max: 64 })),
    ratio: optional(number()),
    strict: optional(boolean()),
    reserved: optional(array(object({ first: string(), last: string() }), { maxItems: 2 })),
  });

  it('parses a valid value into exactly the declared fields', () => {
    expect(pool.parse({ poolId: 'p', kind: 'pod' }, 'data')).toEqual({ poolId: 'p', kind: 'pod' });
    expect(
      pool.parse(
        {
          poolId: 'p',
          kind: 'vip',
          shards: 4,
          ratio: 0.5,
          strict: true,
          reserved: [{ first: 'a', last: 'b' }],
        },
        'data',
      ),
    ).toEqual({
      poolId: 'p',
      kind: 'vip',
      shards: 4,
      ratio: 0.5,
      strict: true,
      reserved: [{ first: 'a', last: 'b' }],
    });
  });

  it('rejects unknown fields anywhere, naming the path', () => {
    expect(failure(() => pool.parse({ poolId: 'p', kind: 'pod', extra: 1 }, 'data'))).toMatchObject(
      {
        code: 'UnknownField',
        path: 'data.extra',
      },
    );
    expect(
      failure(() =>
        pool.parse(
          { poolId: 'p', kind: 'pod', reserved: [{ first: 'a', last: 'b', x: 1 }] },
          'data',
        ),
      ),
    ).toMatchObject({ code: 'UnknownField', path: 'data.reserved[0].x' });
    expect(failure(() => object({}).parse(JSON.parse('{"__proto__": 1}'), ''))).toMatchObject({
      code: 'UnknownField',
      path: '__proto__',
    });
  });

  it.each([
    ['a missing field', { kind: 'pod' }, 'data.poolId', /is required/],
    ['a wrong type', { poolId: 7, kind: 'pod' }, 'data.poolId', /must be a string, got 7/],
    ['null', { poolId: null, kind: 'pod' }, 'data.poolId', /got null/],
    ['too long', { poolId: 'x'.repeat(9), kind: 'pod' }, 'data.poolId', /1-8 characters/],
    ['not in the enum', { poolId: 'p', kind: 'lan' }, 'data.kind', /one of pod, vip/],
    ['a fraction', { poolId: 'p', kind: 'pod', shards: 1.5 }, 'data.shards', /integer 1-64/],
    ['out of range', { poolId: 'p', kind: 'pod', shards: 65 }, 'data.shards', /integer 1-64/],
    ['NaN-like', { poolId: 'p', kind: 'pod', ratio: 'NaN' }, 'data.ratio', /must be a number/],
    ['not a boolean', { poolId: 'p', kind: 'pod', strict: 1 }, 'data.strict', /true or false/],
    [
      'too many items',
      { poolId: 'p', kind: 'pod', reserved: [{}, {}, {}] },
      'data.reserved',
      /at most 2/,
    ],
    [
      'not an array',
      { poolId: 'p', kind: 'pod', reserved: {} },
      'data.reserved',
      /must be an array/,
    ],
  ])('rejects %s as InvalidRequest', (_what, value, path, message) => {
    const found = failure(() => pool.parse(value, 'data'));
    expect(found).toMatchObject({ code: 'InvalidRequest', path });
    expect(found.message).toMatch(message);
  });

  it('rejects non-objects where an object belongs', () => {
    for (const value of [null, [], 'x', 3]) {
      expect(failure(() => pool.parse(value, 'data')).code).toBe('InvalidRequest');
    }
  });

  it('lets a refiner normalise a value or throw its own typed error', () => {
    class Rejected extends Error {
      readonly code = 'InvalidIp';
    }
    const upper = refine(string(), (value) => {
      if (value === 'bad') throw new Rejected('bad address');
      return value.toUpperCase();
    });
    expect(upper.parse('ab', 'x')).toBe('AB');
    expect(() => upper.parse('bad', 'x')).toThrow(Rejected);
    expect(failure(() => upper.parse(1, 'x')).code).toBe('InvalidRequest');
  });
});
