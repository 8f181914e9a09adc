import { labelsEqual, matchesSelector, parseLabels } from './labels';

describe('Kubernetes labels', () => {
  it('accepts keys with an optional DNS prefix and returns labels in key order', () => {
    const labels = parseLabels({
      tier: 'web',
      'app.kubernetes.io/name': 'shop',
      'example.com/Team_A.b': '',
      x: 'A-1_b.c',
    });
    expect(Object.keys(labels)).toEqual([
      'app.kubernetes.io/name',
      'example.com/Team_A.b',
      'tier',
      'x',
    ]);
  });

  it('accepts names and values of up to 63 characters', () => {
    expect(() => parseLabels({ ['k'.repeat(63)]: 'v'.repeat(63) })).not.toThrow();
    const prefix253 = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
    expect(() => parseLabels({ [`${prefix253}/${'k'.repeat(63)}`]: 'v' })).not.toThrow();
    expect(() => parseLabels({ [`e${prefix253}/k`]: 'v' })).toThrow(/must be a DNS subdomain/);
  });

  it.each([
    [{ ['k'.repeat(64)]: 'v' }, /name must be 1-63/],
    [{ '': 'v' }, /name must be 1-63/],
    [{ 'example.com/': 'v' }, /name must be 1-63/],
    [{ '/tier': 'v' }, /prefix "" must be a DNS subdomain/],
    [{ 'Example.com/tier': 'v' }, /prefix "Example.com"/],
    [{ 'a/b/c': 'v' }, /name may contain only/],
    [{ '-tier': 'v' }, /name may contain only/],
    [{ 'tier.': 'v' }, /name may contain only/],
    [{ tier: 'v'.repeat(64) }, /at most 63/],
    [{ tier: 'web app' }, /may contain only/],
    [{ tier: '_web' }, /may contain only/],
    [{ tier: 7 }, /must be a string/],
  ])('rejects %j', (labels, message) => {
    expect(() => parseLabels(labels)).toThrow(
      expect.objectContaining({ code: 'InvalidLabels', message: expect.stringMatching(message) }),
    );
  });

  it('rejects values that are not label maps', () => {
    for (const value of [null, [], 'tier=web', undefined]) {
      expect(() => parseLabels(value)).toThrow(expect.objectContaining({ code: 'InvalidLabels' }));
    }
  });

  it('compares label sets regardless of key order', () => {
    expect(labelsEqual({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
    expect(labelsEqual({ a: '1' }, { a: '1', b: '2' })).toBe(false);
    expect(labelsEqual({ a: '1' }, { a: '2' })).toBe(false);
  });

  it('matches equality selectors', () => {
    expect(matchesSelector({ tier: 'web', env: 'prod' }, { tier: 'web' })).toBe(true);
    expect(matchesSelector({ tier: 'web' }, { tier: 'web', env: 'prod' })).toBe(false);
    expect(matchesSelector({ tier: '' }, { tier: '' })).toBe(true);
    expect(matchesSelector({}, { tier: '' })).toBe(false);
  });
});
