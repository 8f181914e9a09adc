import { assertDnsLabel, assertDnsSubdomain, isDnsLabel, isDnsSubdomain } from './dns';

describe('DNS names (RFC 1123, as Kubernetes checks them)', () => {
  it('accepts labels of 1-63 lowercase alphanumerics and inner dashes', () => {
    for (const name of ['a', 'blue', 'web-01', '0abc', 'a'.repeat(63)])
      expect(isDnsLabel(name)).toBe(true);
  });

  it.each(['', 'Blue', '-web', 'web-', 'web_1', 'web.1', 'a'.repeat(64)])(
    'rejects label %j',
    (name) => {
      expect(isDnsLabel(name)).toBe(false);
      expect(() => assertDnsLabel(name, 'segment name')).toThrow(
        expect.objectContaining({ code: 'InvalidName' }),
      );
    },
  );

  it('accepts subdomains of labels up to 253 characters', () => {
    expect(assertDnsSubdomain('node-1.rack-3.dc.example.com', 'node name')).toBe(
      'node-1.rack-3.dc.example.com',
    );
    expect(isDnsSubdomain(Array(4).fill('a'.repeat(62)).join('.'))).toBe(true);
  });

  it.each([
    '',
    '.node',
    'node.',
    'node..lab',
    'Node.lab',
    Array(5).fill('a'.repeat(50)).join('.') + 'aaaa',
  ])('rejects subdomain %j', (name) => {
    expect(() => assertDnsSubdomain(name, 'node name')).toThrow(
      /node name must be a DNS subdomain/,
    );
  });
});
