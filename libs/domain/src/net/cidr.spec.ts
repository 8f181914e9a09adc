import {
  cidrContains,
  cidrRange,
  cidrSize,
  cidrsOverlap,
  clipRange,
  findOverlap,
  formatCidr,
  mergeRanges,
  parseAddressRange,
  parseCidr,
} from './cidr';
import { parseIpv4 } from './ipv4';

const ip = (text: string) => parseIpv4(text);

describe('CIDR prefixes', () => {
  it('parses and formats prefixes /0 to /32', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: ip('10.0.0.0'), prefix: 8 });
    for (const text of ['0.0.0.0/0', '10.0.0.0/8', '192.168.1.128/25', '10.1.2.3/32']) {
      expect(formatCidr(parseCidr(text))).toBe(text);
    }
    expect(cidrSize(parseCidr('0.0.0.0/0'))).toBe(2 ** 32);
    expect(cidrRange(parseCidr('192.168.1.128/25'))).toEqual({
      first: ip('192.168.1.128'),
      last: ip('192.168.1.255'),
    });
  });

  it('rejects host bits, suggesting the network it probably meant', () => {
    expect(() => parseCidr('10.1.2.3/16')).toThrow(
      'CIDR 10.1.2.3/16 has host bits set; did you mean 10.1.0.0/16?',
    );
  });

  it.each([
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/08',
    '10.0.0/8',
    '10.0.0.0/8/8',
    '/8',
    '',
  ])('rejects %j with InvalidCidr', (text) => {
    expect(() => parseCidr(text)).toThrow(expect.objectContaining({ code: 'InvalidCidr' }));
  });

  it('tells containment and overlap', () => {
    const net = parseCidr('10.1.0.0/16');
    expect(cidrContains(net, ip('10.1.255.255'))).toBe(true);
    expect(cidrContains(net, ip('10.2.0.0'))).toBe(false);
    expect(cidrsOverlap(net, parseCidr('10.1.128.0/17'))).toBe(true);
    expect(cidrsOverlap(net, parseCidr('10.0.0.0/8'))).toBe(true);
    expect(cidrsOverlap(net, parseCidr('10.2.0.0/16'))).toBe(false);
    expect(cidrsOverlap(parseCidr('0.0.0.0/0'), parseCidr('255.255.255.255/32'))).toBe(true);
  });

  it('finds the first overlapping pair in a list', () => {
    const list = ['10.1.0.0/24', '10.2.0.0/24', '10.1.0.128/25'].map((text) => parseCidr(text));
    expect(findOverlap(list)?.map(formatCidr)).toEqual(['10.1.0.0/24', '10.1.0.128/25']);
    expect(findOverlap(list.slice(0, 2))).toBeUndefined();
  });
});

describe('address ranges', () => {
  it('parses a range and rejects one that ends before it starts', () => {
    expect(parseAddressRange({ first: '10.0.0.1', last: '10.0.0.1' })).toEqual({
      first: ip('10.0.0.1'),
      last: ip('10.0.0.1'),
    });
    expect(() => parseAddressRange({ first: '10.0.0.2', last: '10.0.0.1' })).toThrow(
      /ends before it starts/,
    );
    expect(() => parseAddressRange({ first: '10.0.0.2', last: 'x' })).toThrow(
      expect.objectContaining({ code: 'InvalidIp' }),
    );
  });

  it('merges overlapping and adjacent ranges into sorted form', () => {
    expect(
      mergeRanges([
        { first: 20, last: 30 },
        { first: 1, last: 5 },
        { first: 6, last: 8 },
        { first: 25, last: 40 },
        { first: 50, last: 50 },
      ]),
    ).toEqual([
      { first: 1, last: 8 },
      { first: 20, last: 40 },
      { first: 50, last: 50 },
    ]);
  });

  it('clips a range to bounds', () => {
    expect(clipRange({ first: 5, last: 15 }, { first: 10, last: 20 })).toEqual({
      first: 10,
      last: 15,
    });
    expect(clipRange({ first: 5, last: 9 }, { first: 10, last: 20 })).toBeUndefined();
  });
});
