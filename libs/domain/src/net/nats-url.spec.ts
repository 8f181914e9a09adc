import { parseNatsUrl } from './nats-url';

describe('NATS gateway and leaf URLs', () => {
  it('accepts scheme://host[:port] and lowercases scheme and host', () => {
    expect(parseNatsUrl('nats://gw.east.example.com:7222')).toBe('nats://gw.east.example.com:7222');
    expect(parseNatsUrl('TLS://GW.East.Example.com:7222')).toBe('tls://gw.east.example.com:7222');
    expect(parseNatsUrl('nats-leaf://10.0.0.7:7422')).toBe('nats-leaf://10.0.0.7:7422');
    expect(parseNatsUrl('wss://leaf.example.com')).toBe('wss://leaf.example.com');
    expect(parseNatsUrl('nats://gw:07222')).toBe('nats://gw:7222');
  });

  it('rejects credentials in the URL: events are readable by anyone who reads the log', () => {
    expect(() => parseNatsUrl('nats://user:pass@gw:7222')).toThrow(/must not carry credentials/);
    expect(() => parseNatsUrl('nats://token@gw:7222')).toThrow(/must not carry credentials/);
  });

  it.each([
    ['http://gw:7222', /scheme must be one of/],
    ['gw:7222', /must look like/],
    ['nats://gw:7222/path', /must look like/],
    ['nats://gw:0', /port 0 is not 1-65535/],
    ['nats://gw:65536', /port/],
    ['nats://gw_1:7222', /not a DNS name/],
    ['nats://10.0.0:7222', /not a DNS name/],
    ['nats://:7222', /must look like/],
    ['', /must look like/],
  ])('rejects %j', (url, message) => {
    expect(() => parseNatsUrl(url)).toThrow(
      expect.objectContaining({ code: 'InvalidUrl', message: expect.stringMatching(message) }),
    );
  });
});
