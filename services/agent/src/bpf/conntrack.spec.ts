import {
  emptyTables,
  type LocalEndpointEntry,
  type PolicyEntry,
  type RemoteEndpointEntry,
} from '@strata/forwarding';
import {
  connectionKeyDecoder,
  decodeConnection,
  decodeConnectionKey,
  encodeConnection,
  encodeConnectionKey,
  type ConnectionKey,
} from '../../../../dataplane/bpf/maps';
import {
  connectionVerdict,
  DEFAULT_IDLE_TIMEOUTS,
  idleTooLong,
  memoizedLookup,
  type ConnectionVerdict,
} from './conntrack';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const SCTP = 132;

const local = (identity: number): LocalEndpointEntry => ({
  uid: `pod-${identity}`,
  interfaceName: `stv${identity}`,
  mac: '0a:58:0a:f4:01:02',
  vni: 42,
  identity,
});
const remote = (identity: number): RemoteEndpointEntry => ({
  uid: `remote-${identity}`,
  node: 'node-2',
  vtepAddress: '192.168.0.2',
  vtepMac: '02:00:00:00:00:02',
  mac: '0a:58:0a:f4:02:02',
  vni: 42,
  identity,
});
const allow = (rule: number): PolicyEntry => ({
  verdict: 'allow',
  rule,
  stagedVerdict: 'allow',
  stagedRule: rule,
});
const deny = (rule: number): PolicyEntry => ({
  verdict: 'deny',
  rule,
  stagedVerdict: 'deny',
  stagedRule: rule,
});

// Node: a (1000) and b (1001) local; r (2000) remote; 93.184.0.0/16 a CIDR identity.
const A = '10.244.1.2';
const B = '10.244.1.3';
const R = '10.244.2.2';
const OUTSIDE = '93.184.216.34';
const WORLD_IP = '198.51.100.7';

function tables(policy: Record<string, PolicyEntry>) {
  const t = emptyTables();
  t.local.set(A, local(1000));
  t.local.set(B, local(1001));
  t.remote.set(R, remote(2000));
  t.prefixes.set('93.184.0.0/16', { identity: 0x10001 });
  for (const [key, entry] of Object.entries(policy)) t.policy.set(key, entry);
  return t;
}

const ct = (
  source: string,
  destination: string,
  protocol: number,
  sourcePort = 0,
  destinationPort = 0,
): ConnectionKey => ({ source, destination, protocol, sourcePort, destinationPort });

describe('connectionVerdict: the opening packet checked as the programs would check it now', () => {
  const rows: Array<[string, Record<string, PolicyEntry>, ConnectionKey, ConnectionVerdict]> = [
    ['nothing selects anyone', {}, ct(A, R, TCP, 40000, 443), 'kept'],
    [
      'local to remote: egress of the source allows the port',
      { 'e:1000:2000:*': deny(1), 'e:1000:2000:6': deny(1), 'e:1000:2000:6:443/16': allow(101) },
      ct(A, R, TCP, 40000, 443),
      'kept',
    ],
    [
      'local to remote: egress of the source denies another port',
      { 'e:1000:2000:*': deny(1), 'e:1000:2000:6': deny(1), 'e:1000:2000:6:443/16': allow(101) },
      ct(A, R, TCP, 40000, 22),
      'denied',
    ],
    [
      "local to remote: the remote's ingress is its own node's business",
      { 'i:2000:*:*': deny(1) },
      ct(A, R, TCP, 40000, 443),
      'kept',
    ],
    [
      "local to local: the destination's ingress denies",
      { 'i:1001:*:*': deny(1) },
      ct(A, B, UDP, 40000, 53),
      'denied',
    ],
    [
      "local to local: the destination's ingress allows the source's identity",
      { 'i:1001:1000:*': allow(5), 'i:1001:*:*': deny(1) },
      ct(A, B, UDP, 40000, 53),
      'kept',
    ],
    [
      "local to local: the source's egress denies before the ingress is asked",
      { 'e:1000:*:*': deny(7), 'i:1001:*:*': allow(5) },
      ct(A, B, UDP, 40000, 53),
      'denied',
    ],
    [
      'over the tunnel: ingress from the remote endpoint identity',
      { 'i:1000:2000:*': allow(5), 'i:1000:*:*': deny(1) },
      ct(R, A, TCP, 40000, 80),
      'kept',
    ],
    [
      'over the tunnel: the ingress now isolates the destination',
      { 'i:1000:*:*': deny(1) },
      ct(R, A, TCP, 40000, 80),
      'denied',
    ],
    [
      'over the tunnel from an address no remote endpoint has: identity unknown (0)',
      { 'i:1000:0:*': deny(9), 'i:1000:*:*': allow(5) },
      ct('10.244.9.9', A, TCP, 40000, 80),
      'denied',
    ],
    [
      "to an address outside: the prefix's CIDR identity",
      { 'e:1000:65537:*': deny(3), 'e:1000:*:*': allow(4) },
      ct(A, OUTSIDE, UDP, 40000, 53),
      'denied',
    ],
    [
      'to an address outside every prefix: world (2)',
      { 'e:1000:2:*': allow(3), 'e:1000:*:*': deny(4) },
      ct(A, WORLD_IP, UDP, 40000, 53),
      'kept',
    ],
    [
      'ICMP echo: policy on port 0, whatever the identifier',
      { 'e:1000:2000:*': deny(1), 'e:1000:2000:1': deny(1), 'e:1000:2000:1:0/16': allow(8) },
      ct(A, R, ICMP, 4711, 0),
      'kept',
    ],
    [
      'ICMP echo reply key: still port 0',
      { 'i:1000:2000:*': deny(1), 'i:1000:2000:1': deny(1), 'i:1000:2000:1:0/16': allow(8) },
      ct(R, A, ICMP, 0, 4711),
      'kept',
    ],
    ['neither address a local pod any more: stale', {}, ct(R, '10.244.2.3', TCP, 1, 2), 'stale'],
  ];

  test.each(rows)('%s', (_name, policy, key, verdict) => {
    const t = tables(policy);
    expect(connectionVerdict(t, key)).toBe(verdict);
    expect(connectionVerdict(t, key, memoizedLookup(t))).toBe(verdict);
  });
});

describe('idleTooLong: per-protocol timeouts on CLOCK_MONOTONIC nanoseconds', () => {
  const second = 1_000_000_000n;
  const now = 100_000n * second;
  test.each([
    [TCP, now - 6n * 3600n * second, false],
    [TCP, now - 6n * 3600n * second - 1n, true],
    [SCTP, now - 3600n * second, false],
    [UDP, now - 60n * second, false],
    [UDP, now - 61n * second, true],
    [ICMP, now - 61n * second, true],
    [47, now - 61n * second, true],
    [UDP, now + second, false],
  ])('protocol %d last seen at %d', (protocol, lastSeen, idle) => {
    expect(idleTooLong(protocol, lastSeen, now, DEFAULT_IDLE_TIMEOUTS)).toBe(idle);
  });

  test('custom timeouts', () => {
    expect(idleTooLong(UDP, now - 2_000_000n, now, { tcp: 10, other: 1 })).toBe(true);
    expect(idleTooLong(TCP, now - 2_000_000n, now, { tcp: 10, other: 1 })).toBe(false);
  });
});

describe('the strata_ct codec', () => {
  test('the walk decoder reads keys as decodeConnectionKey does, addresses cached', () => {
    const decode = connectionKeyDecoder();
    for (const key of [
      ct(A, R, TCP, 40000, 443),
      ct(R, A, ICMP, 0, 4711),
      ct(A, R, ICMP, 4711, 0),
    ]) {
      const bytes = encodeConnectionKey(key);
      expect(decode(bytes)).toEqual(key);
      expect(decode(bytes)).toEqual(decodeConnectionKey(bytes));
    }
    expect(() => decode(Buffer.alloc(15))).toThrow(RangeError);
  });

  test('the value is last seen, 8 bytes little-endian', () => {
    const value = encodeConnection(0x0102030405060708n);
    expect(value.toString('hex')).toBe('0807060504030201');
    expect(decodeConnection(value)).toEqual({ lastSeenNs: 0x0102030405060708n });
    expect(() => decodeConnection(Buffer.alloc(4))).toThrow(RangeError);
  });
});
