import { interfaceName, MAX_INTERFACE_NAME_LENGTH, readIdentity } from './identity';

describe('interfaceName', () => {
  it('is st and 11 base32 characters, within the Linux limit, stable across calls', () => {
    const name = interfaceName('6f1c9a2e-1d4b-4c5e-9f0a-0123456789ab');
    expect(name).toMatch(/^st[a-z2-7]{11}$/);
    expect(name.length).toBeLessThanOrEqual(MAX_INTERFACE_NAME_LENGTH);
    expect(interfaceName('6f1c9a2e-1d4b-4c5e-9f0a-0123456789ab')).toBe(name);
  });

  it('is a fixed function of the uid (pinned: restarted agents must find their veths)', () => {
    expect(interfaceName('pod-a')).toBe(interfaceName('pod-a'));
    expect(interfaceName('')).toBe('st4oymiquy7qo');
  });

  it('spreads uids apart', () => {
    const names = new Set(Array.from({ length: 20_000 }, (_, i) => interfaceName(`pod-${i}`)));
    expect(names.size).toBe(20_000);
  });
});

describe('readIdentity', () => {
  it.each([
    [7, 7],
    [0, 0],
    [0xffff, 0xffff],
    [0x10000, 0],
    [-1, 0],
    [1.5, 0],
    [Number.NaN, 0],
    ['300', 0],
    [undefined, 0],
  ])('reads %p as %p', (given, expected) => {
    expect(readIdentity(given)).toBe(expected);
  });
});
