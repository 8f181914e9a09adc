import type { RuleEntry } from '@strata/forwarding';
import {
  encodePolicyKey,
  encodePolicyValue,
  encodeVerdictKey,
  VERDICT_VALUE_SIZE,
  type VerdictKind,
} from '../../../../dataplane/bpf/maps';
import { policyRulesToPrometheus, readPolicyRules } from './counters';
import {
  InvalidTableEntry,
  formatPolicyKey,
  parsePolicyKey,
  policyMapKey,
  policyMapValue,
  prefixMapKey,
  prefixMapValue,
  viewPolicy,
  viewPrefix,
} from './policy-view';

describe('policy table keys (docs/policy.md) as strata_policy keys', () => {
  test.each([
    ['e:1000:2000:*', { direction: 'egress', local: 1000, peer: 2000, protocol: '*' }, 72],
    ['i:1000:*:*', { direction: 'ingress', local: 1000, peer: '*', protocol: '*' }, 72],
    ['e:256:65537:17', { direction: 'egress', local: 256, peer: 65537, protocol: 17 }, 80],
    [
      'i:1000:2:6:443/16',
      { direction: 'ingress', local: 1000, peer: 2, protocol: 6, port: { start: 443, bits: 16 } },
      96,
    ],
    [
      'e:1000:*:132:32768/1',
      {
        direction: 'egress',
        local: 1000,
        peer: '*',
        protocol: 132,
        port: { start: 32768, bits: 1 },
      },
      81,
    ],
  ] as const)('%s', (key, parsed, prefix) => {
    expect(parsePolicyKey(key)).toEqual(parsed);
    expect(formatPolicyKey(parsePolicyKey(key))).toBe(key);
    const mapKey = policyMapKey(key);
    expect(mapKey.readUInt32LE(0)).toBe(prefix);
    expect(mapKey.equals(encodePolicyKey(parsed))).toBe(true);
    expect(viewPolicy(mapKey, policyMapValue(key, ALLOW))).toEqual([key, ALLOW]);
  });

  test.each([
    ['', 'not <dir>'],
    ['x:1000:2000:*', "direction 'x'"],
    ['e:1000:2000', 'not <dir>'],
    ['e:1000:2000:6:443/16:1', 'not <dir>'],
    ['e:01000:2000:*', "local identity '01000'"],
    ['e:-1:2000:*', "local identity '-1'"],
    ['e:4294967296:2000:*', 'local identity'],
    ['e:1000:4294967295:*', 'peer identity'],
    ['e:1000:abc:*', 'peer identity'],
    ['e:1000:*:256', "protocol '256'"],
    ['e:1000:*:*:80/16', 'no port block'],
    ['e:1000:*:6:80', "'80' is not <port>/<bits>"],
    ['e:1000:*:6:65536/16', "port '65536'"],
    ['e:1000:*:6:80/17', "port bits '17'"],
    ['e:1000:*:6:0/0', 'fixes 1-16 bits'],
    ['e:1000:*:6:8081/13', 'bits set beyond /13'],
  ])('rejects %j: %s', (key, reason) => {
    let thrown: unknown;
    try {
      parsePolicyKey(key);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidTableEntry);
    expect((thrown as InvalidTableEntry).code).toBe('InvalidTableEntry');
    expect((thrown as Error).message).toContain(reason);
  });

  test('values: both verdicts and rules; a bad verdict is a typed error', () => {
    const staged = { verdict: 'deny', rule: 1, stagedVerdict: 'allow', stagedRule: 77 } as const;
    expect(policyMapValue('k', staged).equals(encodePolicyValue(staged))).toBe(true);
    expect(() => policyMapValue('k', { ...staged, verdict: 'pass' as never })).toThrow(
      InvalidTableEntry,
    );
    expect(() => policyMapValue('k', { ...staged, rule: -1 })).toThrow(InvalidTableEntry);
  });
});

const ALLOW = { verdict: 'allow', rule: 0, stagedVerdict: 'allow', stagedRule: 0 } as const;

describe('prefix table keys as strata_prefixes keys', () => {
  test.each([
    ['93.184.216.34/32', '20000000' + '5db8d822'],
    ['10.0.0.0/8', '08000000' + '0a000000'],
    ['0.0.0.0/0', '00000000' + '00000000'],
  ])('%s', (key, hex) => {
    expect(prefixMapKey(key).toString('hex')).toBe(hex);
    expect(viewPrefix(prefixMapKey(key), prefixMapValue(key, { identity: 65537 }))).toEqual([
      key,
      { identity: 65537 },
    ]);
  });

  test.each(['10.0.0.1/8', '10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', '10.0.0/8', 'a/8'])(
    'rejects %j',
    (key) => {
      expect(() => prefixMapKey(key)).toThrow(InvalidTableEntry);
    },
  );

  test('identity out of range: a typed error', () => {
    expect(() => prefixMapValue('10.0.0.0/8', { identity: 2 ** 32 })).toThrow(InvalidTableEntry);
  });
});

describe('verdict counters by rule', () => {
  const rules = new Map<string, RuleEntry>([
    [
      '4242',
      {
        policyId: 'web-in',
        name: 'web in',
        tier: 'application',
        direction: 'ingress',
        index: 0,
        action: 'allow',
        staged: false,
      },
    ],
  ]);
  const value = (packets: number, bytes: number) => {
    const out = Buffer.alloc(2 * VERDICT_VALUE_SIZE);
    out.writeBigUInt64LE(BigInt(packets), 0);
    out.writeBigUInt64LE(BigInt(bytes), 8);
    return out;
  };
  const entry = (rule: number, kind: VerdictKind, packets: number, bytes: number) =>
    [encodeVerdictKey({ rule, kind }), value(packets, bytes)] as [Buffer, Buffer];
  const map = {
    entries: () => [
      entry(4242, 'denied', 2, 200),
      entry(1, 'denied', 5, 500),
      entry(4242, 'allowed', 3, 300),
      entry(4242, 'staged_would_deny', 1, 100),
    ],
  };

  test('one row per rule, sorted, named through the rules table', () => {
    const none = { packets: 0, bytes: 0 };
    expect(readPolicyRules(map, rules)).toEqual([
      {
        rule: 1,
        policyId: null,
        tier: null,
        direction: null,
        index: null,
        allowed: none,
        denied: { packets: 5, bytes: 500 },
        stagedWouldDeny: none,
        stagedWouldAllow: none,
      },
      {
        rule: 4242,
        policyId: 'web-in',
        tier: 'application',
        direction: 'ingress',
        index: 0,
        allowed: { packets: 3, bytes: 300 },
        denied: { packets: 2, bytes: 200 },
        stagedWouldDeny: { packets: 1, bytes: 100 },
        stagedWouldAllow: none,
      },
    ]);
  });

  test('as Prometheus text: strata_agent_policy_packets_total per rule and kind', () => {
    const text = policyRulesToPrometheus('node-1', readPolicyRules(map, rules));
    expect(text.split('\n').filter((line) => line.startsWith('strata_'))).toEqual([
      'strata_agent_policy_packets_total{node="node-1",rule="1",policy="",tier="",kind="denied"} 5',
      'strata_agent_policy_packets_total{node="node-1",rule="4242",policy="web-in",tier="application",kind="allowed"} 3',
      'strata_agent_policy_packets_total{node="node-1",rule="4242",policy="web-in",tier="application",kind="denied"} 2',
      'strata_agent_policy_packets_total{node="node-1",rule="4242",policy="web-in",tier="application",kind="staged_would_deny"} 1',
    ]);
    expect(text).toContain('# TYPE strata_agent_policy_packets_total counter');
  });
});
