import { DomainError } from '../shared/errors';
import { assertHostIpv4, formatIpv4, isIpv4, parseIpv4 } from './ipv4';

describe('IPv4 addresses', () => {
  it('parses dotted quads to unsigned 32-bit values and back', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('10.1.2.3')).toBe(0x0a010203);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const text of ['0.0.0.0', '10.1.2.3', '192.168.255.1', '255.255.255.255']) {
      expect(formatIpv4(parseIpv4(text))).toBe(text);
    }
  });

  it.each([
    '',
    '10.1.2',
    '10.1.2.3.4',
    '10.1.2.256',
    '010.1.2.3',
    '10.1.2.3 ',
    ' 10.1.2.3',
    '1e1.0.0.1',
    '::1',
    '10.1.2.-1',
  ])('rejects %j with InvalidIp', (text) => {
    expect(isIpv4(text)).toBe(false);
    expect(() => parseIpv4(text)).toThrow(DomainError);
    expect(() => parseIpv4(text, 'pod IP')).toThrow(/pod IP must be an IPv4 address/);
  });

  it('rejects values that are not strings', () => {
    expect(() => parseIpv4(167772161)).toThrow(expect.objectContaining({ code: 'InvalidIp' }));
    expect(isIpv4(undefined)).toBe(false);
  });

  it('accepts host addresses only where a host is meant', () => {
    expect(assertHostIpv4('10.0.0.1', 'VIP')).toBe('10.0.0.1');
    expect(assertHostIpv4('223.255.255.254', 'VIP')).toBe('223.255.255.254');
    for (const text of [
      '0.1.2.3',
      '127.0.0.1',
      '224.0.0.5',
      '239.1.1.1',
      '240.0.0.1',
      '255.255.255.255',
    ]) {
      expect(() => assertHostIpv4(text, 'VIP')).toThrow(/VIP .* is not a host address/);
    }
  });
});
