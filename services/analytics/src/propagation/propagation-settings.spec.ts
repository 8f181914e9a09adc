import { DEFAULT_PROPAGATION_SETTINGS, propagationSettings } from './propagation-settings';

describe('propagationSettings', () => {
  it('takes the defaults for what is left out', () => {
    expect(propagationSettings()).toEqual(DEFAULT_PROPAGATION_SETTINGS);
    expect(propagationSettings({ window: 50, maxNodes: undefined })).toEqual({
      ...DEFAULT_PROPAGATION_SETTINGS,
      window: 50,
    });
  });

  it('refuses what is not a positive integer', () => {
    expect(() => propagationSettings({ window: 0 })).toThrow(RangeError);
    expect(() => propagationSettings({ maxNodes: 2.5 })).toThrow(/maxNodes/);
    expect(() => propagationSettings({ window: Number.NaN })).toThrow(RangeError);
    expect(() => propagationSettings({ evictedFilterBits: 1000 })).toThrow(/power of two/);
  });
});
