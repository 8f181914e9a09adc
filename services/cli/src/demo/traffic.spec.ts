import { parsePing } from './traffic';

describe('parsePing (iputils ping -q)', () => {
  it('reads the counts, the loss and min/avg/max', () => {
    const output = [
      'PING 10.244.0.4 (10.244.0.4) 56(84) bytes of data.',
      '',
      '--- 10.244.0.4 ping statistics ---',
      '3 packets transmitted, 3 received, 0% packet loss, time 402ms',
      'rtt min/avg/max/mdev = 0.061/0.080/0.101/0.016 ms',
    ].join('\n');
    expect(parsePing(output)).toEqual({
      transmitted: 3,
      received: 3,
      lossPercent: 0,
      rtt: { min: 0.061, avg: 0.08, max: 0.101 },
    });
  });

  it('has no round-trip times when nothing came back', () => {
    const output = '3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms\n';
    expect(parsePing(output)).toEqual({
      transmitted: 3,
      received: 0,
      lossPercent: 100,
      rtt: null,
    });
  });

  it('is undefined when ping printed no summary', () => {
    expect(parsePing('ping: connect: Network is unreachable\n')).toBeUndefined();
  });
});
