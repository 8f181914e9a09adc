import { isMac, parseMac } from './mac';

describe('MAC addresses', () => {
  it('accepts unicast MACs in either case and returns them lowercase', () => {
    expect(parseMac('0A:58:0A:F4:01:05')).toBe('0a:58:0a:f4:01:05');
    expect(parseMac('52:54:00:12:34:56')).toBe('52:54:00:12:34:56');
  });

  it.each([
    '',
    '0a:58:0a:f4:01',
    '0a-58-0a-f4-01-05',
    '0a580af40105',
    '0a:58:0a:f4:01:5',
    '0g:58:0a:f4:01:05',
  ])('rejects malformed %j', (text) => {
    expect(isMac(text)).toBe(false);
    expect(() => parseMac(text)).toThrow(expect.objectContaining({ code: 'InvalidMac' }));
  });

  it('rejects multicast, broadcast and all-zero MACs', () => {
    expect(() => parseMac('01:00:5e:00:00:fb')).toThrow(/multicast or broadcast/);
    expect(() => parseMac('ff:ff:ff:ff:ff:ff')).toThrow(/multicast or broadcast/);
    expect(() => parseMac('00:00:00:00:00:00')).toThrow(/all zeros/);
  });
});
