/**
 * The map contract between dataplane/bpf/lib/maps.h and its TypeScript codec (maps.ts): the
 * enums agree with the C source, the loaded maps have the codec's sizes, every program object
 * shares one pinned instance of each map, the codec round-trips, and the flow ring buffer
 * samples and rate-limits as configured.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadObject, type BpfObject } from '@strata/dataplane';
import {
  DIRECTIONS,
  DROP_REASONS,
  FLOW_RECORD_SIZE,
  IPV4_KEY_SIZE,
  LOCAL_ENDPOINT_SIZE,
  MAP_NAMES,
  NODE_CONFIG_DEFAULTS,
  OUTCOMES,
  POINTS,
  PROGRAMS,
  REMOTE_ENDPOINT_SIZE,
  STATS,
  TRAFFIC_KEY_SIZE,
  TRAFFIC_VALUE_SIZE,
  VTEP_FLAG_NO_GBP,
  VTEP_SIZE,
  CONFIG_VARIABLE,
  CT_KEY_SIZE,
  CT_VALUE_SIZE,
  IDENTITY_WORLD,
  POLICY_DIRECTIONS,
  POLICY_KEY_SIZE,
  POLICY_PEER_ANY,
  POLICY_PREFIX_ANY_PROTOCOL,
  POLICY_PREFIX_PROTOCOL,
  POLICY_VALUE_SIZE,
  PREFIX_KEY_SIZE,
  PREFIX_VALUE_SIZE,
  VERDICTS,
  VERDICT_KEY_SIZE,
  VERDICT_KINDS,
  VERDICT_VALUE_SIZE,
  decodeConnectionKey,
  decodePolicyKey,
  decodePolicyValue,
  decodePrefixKey,
  decodePrefixValue,
  decodeVerdictCount,
  decodeVerdictKey,
  encodeConnectionKey,
  encodePolicyKey,
  encodePolicyValue,
  encodePrefixKey,
  encodePrefixValue,
  encodeVerdictKey,
  decodeCounter,
  decodeFlowRecord,
  decodeIpv4,
  decodeLocalEndpoint,
  decodeNodeConfig,
  decodeRemoteEndpoint,
  decodeTraffic,
  decodeTrafficKey,
  decodeVtep,
  dropReasonCode,
  encodeIndex,
  encodeIpv4,
  encodeLocalEndpoint,
  encodeNodeConfig,
  encodeRemoteEndpoint,
  encodeTrafficKey,
  encodeVtep,
  sumPerCpu,
} from '../../../dataplane/bpf/maps';
import {
  BPF_DIR,
  BUILD_DIR,
  DataplaneFixture,
  TC_ACT_SHOT,
  bpfSkipReason,
  buildObjects,
  privatePinRoot,
} from '../../../dataplane/bpf/testing/harness';
import {
  GATEWAY_MAC,
  NODE_CONFIG,
  REMOTE_PODS,
  localPods,
  world,
} from '../../../dataplane/bpf/testing/topology';
import { ETH_P_IPV4, IPPROTO_UDP, ethernet, ipv4, udp } from '../../support/packets';

const MAPS_H = readFileSync(join(BPF_DIR, 'lib', 'maps.h'), 'utf8');

/** `PREFIX_NAME = value` members of one C enum, in order. */
function cEnum(name: string, prefix: string): Array<[string, number]> {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(MAPS_H);
  if (!body) throw new Error(`enum ${name} not found in maps.h`);
  return [...body[1].matchAll(new RegExp(`\\b${prefix}(\\w+)\\s*=\\s*(\\d+)`, 'g'))].map(
    ([, member, value]) => [member.toLowerCase(), Number(value)],
  );
}

function cDefine(name: string): number {
  const match = new RegExp(`#define ${name}\\s+(0x[0-9a-fA-F]+|\\d+)`).exec(MAPS_H);
  if (!match) throw new Error(`#define ${name} not found in maps.h`);
  return Number(match[1].replace(/U$/, ''));
}

function listed(names: readonly string[]): Array<[string, number]> {
  return names.map((name, index) => [name, index]);
}

describe('enums: maps.h and maps.ts list the same members with the same values', () => {
  test.each([
    ['strata_drop_reason', 'STRATA_DROP_', DROP_REASONS],
    ['strata_stat', 'STRATA_STAT_', STATS],
    ['strata_direction', 'STRATA_DIR_', DIRECTIONS],
    ['strata_point', 'STRATA_POINT_', POINTS],
    ['strata_outcome', 'STRATA_OUTCOME_', OUTCOMES],
    ['strata_policy_dir', 'STRATA_POLICY_', POLICY_DIRECTIONS],
    ['strata_verdict', 'STRATA_VERDICT_', VERDICTS],
    ['strata_verdict_kind', 'STRATA_VERDICT_KIND_', VERDICT_KINDS],
  ] as const)('%s', (name, prefix, names) => {
    const members = cEnum(name, prefix);
    const withoutMax = members.filter(([member]) => member !== 'max');
    expect(withoutMax).toEqual(listed(names));
    const max = members.find(([member]) => member === 'max');
    if (max) expect(max[1]).toBe(names.length);
  });

  test('VTEP flags', () => {
    expect(cDefine('STRATA_VTEP_F_NO_GBP')).toBe(VTEP_FLAG_NO_GBP);
  });

  test('policy constants', () => {
    expect(cDefine('STRATA_POLICY_PEER_ANY')).toBe(POLICY_PEER_ANY);
    expect(cDefine('STRATA_POLICY_PREFIX_ANY_PROTO')).toBe(POLICY_PREFIX_ANY_PROTOCOL);
    expect(cDefine('STRATA_POLICY_PREFIX_PROTO')).toBe(POLICY_PREFIX_PROTOCOL);
    expect(cDefine('STRATA_POLICY_PREFIX_PORT')).toBe(POLICY_PREFIX_PROTOCOL + 16);
    expect(cDefine('STRATA_IDENTITY_WORLD')).toBe(IDENTITY_WORLD);
  });
});

describe('codec', () => {
  test('local endpoint: 16 bytes, little-endian numbers, MAC at 10', () => {
    const value = { ifindex: 7, vni: 42, identity: 1000, mac: '0a:58:0a:f4:01:02' };
    const bytes = encodeLocalEndpoint(value);
    expect(bytes.toString('hex')).toBe('07000000' + '2a000000' + 'e803' + '0a580af40102');
    expect(decodeLocalEndpoint(bytes)).toEqual(value);
  });

  test('remote endpoint: 24 bytes, VTEP address in network order', () => {
    const value = {
      vtepAddress: '192.168.200.2',
      vni: 0xabcdef,
      identity: 65535,
      vtepMac: '02:00:c0:a8:c8:02',
      mac: '0a:58:0a:f4:02:02',
    };
    const bytes = encodeRemoteEndpoint(value);
    expect(bytes.toString('hex')).toBe(
      'c0a8c802' + 'efcdab00' + 'ffff' + '0200c0a8c802' + '0a580af40202' + '0000',
    );
    expect(decodeRemoteEndpoint(bytes)).toEqual(value);
  });

  test('VTEP, traffic key, IPv4 key and config round-trip', () => {
    expect(decodeVtep(encodeVtep({ flags: VTEP_FLAG_NO_GBP }))).toEqual({ flags: 1 });
    const key = { srcIdentity: 1, dstIdentity: 65535, direction: 'from_overlay' } as const;
    expect(encodeTrafficKey(key).toString('hex')).toBe('0100ffff01000000');
    expect(decodeTrafficKey(encodeTrafficKey(key))).toEqual(key);
    expect(encodeIpv4('10.244.1.2').toString('hex')).toBe('0af40102');
    expect(decodeIpv4(encodeIpv4('10.244.1.2'))).toBe('10.244.1.2');
    const config = encodeNodeConfig(NODE_CONFIG);
    expect(decodeNodeConfig(config)).toEqual({ ...NODE_CONFIG_DEFAULTS, ...NODE_CONFIG });
    expect(config.subarray(26, 28).toString('hex')).toBe('b512'); // 4789, host order
    expect(config.subarray(28, 32).toString('hex')).toBe('a9fe0101'); // 169.254.1.1, net order
  });

  test('rejects what does not fit the layout', () => {
    expect(() => encodeIpv4('10.244.1')).toThrow(TypeError);
    expect(() => encodeIpv4('10.244.1.256')).toThrow(TypeError);
    expect(() => encodeIpv4('10.244.01.2')).toThrow(TypeError);
    const pod = { ifindex: 7, vni: 42, identity: 1000, mac: '0a:58:0a:f4:01:02' };
    expect(() => encodeLocalEndpoint({ ...pod, vni: 1 << 24 })).toThrow(RangeError);
    expect(() => encodeLocalEndpoint({ ...pod, identity: 65536 })).toThrow(RangeError);
    expect(() => encodeLocalEndpoint({ ...pod, ifindex: -1 })).toThrow(RangeError);
    expect(() => encodeLocalEndpoint({ ...pod, mac: '0a:58:0a:f4:01' })).toThrow(TypeError);
    expect(() => decodeLocalEndpoint(Buffer.alloc(15))).toThrow(RangeError);
    expect(() => decodeFlowRecord(Buffer.alloc(FLOW_RECORD_SIZE - 1))).toThrow(RangeError);
  });

  test('policy key: prefix length by row kind, identities and port in network order', () => {
    const block = {
      direction: 'egress',
      local: 1000,
      peer: 2000,
      protocol: 6,
      port: { start: 8080, bits: 13 },
    } as const;
    expect(encodePolicyKey(block).toString('hex')).toBe(
      '5d000000' + '000003e8' + '000007d0' + '01' + '06' + '1f90',
    );
    expect(decodePolicyKey(encodePolicyKey(block))).toEqual(block);
    const any = { direction: 'ingress', local: 1000, peer: '*', protocol: '*' } as const;
    expect(encodePolicyKey(any).toString('hex')).toBe(
      '48000000' + '000003e8' + 'ffffffff' + '00' + '00' + '0000',
    );
    expect(decodePolicyKey(encodePolicyKey(any))).toEqual(any);
    const proto = { direction: 'egress', local: 7, peer: 0x10001, protocol: 17 } as const;
    expect(encodePolicyKey(proto).readUInt32LE(0)).toBe(80);
    expect(decodePolicyKey(encodePolicyKey(proto))).toEqual(proto);
    expect(encodePolicyKey(proto).length).toBe(POLICY_KEY_SIZE);
    expect(() => encodePolicyKey({ ...block, port: { start: 8081, bits: 13 } })).toThrow(
      RangeError,
    );
    expect(() => encodePolicyKey({ ...any, port: { start: 0, bits: 1 } })).toThrow(RangeError);
  });

  test('policy value, prefix, conntrack and verdict keys round-trip', () => {
    const value = { verdict: 'deny', rule: 1, stagedVerdict: 'allow', stagedRule: 0xfffffff0 };
    const bytes = encodePolicyValue(value as never);
    expect(bytes.toString('hex')).toBe('01000000' + '01000000' + 'f0ffffff');
    expect(bytes.length).toBe(POLICY_VALUE_SIZE);
    expect(decodePolicyValue(bytes)).toEqual(value);
    const prefix = { address: '10.1.0.0', length: 16 };
    expect(encodePrefixKey(prefix).toString('hex')).toBe('10000000' + '0a010000');
    expect(decodePrefixKey(encodePrefixKey(prefix))).toEqual(prefix);
    expect(encodePrefixKey(prefix).length).toBe(PREFIX_KEY_SIZE);
    expect(() => encodePrefixKey({ address: '10.1.0.1', length: 16 })).toThrow(RangeError);
    expect(decodePrefixValue(encodePrefixValue({ identity: 0x10002 }))).toEqual({
      identity: 0x10002,
    });
    expect(encodePrefixValue({ identity: 2 }).length).toBe(PREFIX_VALUE_SIZE);
    const ct = {
      source: '10.244.1.2',
      destination: '10.244.2.2',
      sourcePort: 43210,
      destinationPort: 443,
      protocol: 6,
    };
    expect(encodeConnectionKey(ct).toString('hex')).toBe(
      '0af40102' + '0af40202' + 'a8ca' + '01bb' + '06' + '000000',
    );
    expect(encodeConnectionKey(ct).length).toBe(CT_KEY_SIZE);
    expect(decodeConnectionKey(encodeConnectionKey(ct))).toEqual(ct);
    const verdict = { rule: 77, kind: 'staged_would_allow' } as const;
    expect(encodeVerdictKey(verdict).toString('hex')).toBe('4d000000' + '03000000');
    expect(encodeVerdictKey(verdict).length).toBe(VERDICT_KEY_SIZE);
    expect(decodeVerdictKey(encodeVerdictKey(verdict))).toEqual(verdict);
    const twoCpus = Buffer.alloc(2 * VERDICT_VALUE_SIZE);
    twoCpus.writeBigUInt64LE(1n, 0);
    twoCpus.writeBigUInt64LE(100n, 8);
    twoCpus.writeBigUInt64LE(2n, 16);
    twoCpus.writeBigUInt64LE(200n, 24);
    expect(decodeVerdictCount(twoCpus)).toEqual({ packets: 3n, bytes: 300n });
  });

  test('per-CPU values: summed over CPU slots rounded up to 8 bytes', () => {
    const twoCpus = Buffer.alloc(2 * TRAFFIC_VALUE_SIZE);
    twoCpus.writeBigUInt64LE(3n, 0);
    twoCpus.writeBigUInt64LE(300n, 8);
    twoCpus.writeBigUInt64LE(4n, 16);
    twoCpus.writeBigUInt64LE(400n, 24);
    expect(decodeTraffic(twoCpus)).toEqual({ packets: 7n, bytes: 700n });
    expect(decodeCounter(Buffer.from('0500000000000000' + '0600000000000000', 'hex'))).toBe(11n);
    expect(sumPerCpu(Buffer.alloc(16, 0), 4)).toBe(0n);
    expect(() => sumPerCpu(Buffer.alloc(12), 8)).toThrow(RangeError);
  });
});

const skipReason = bpfSkipReason();
if (skipReason) console.warn(`BPF map tests skipped: ${skipReason}`);
const withBpf = skipReason ? describe.skip : describe;

withBpf('loaded objects', () => {
  const pinRoot = privatePinRoot('maps');
  const objects: BpfObject[] = [];

  beforeAll(async () => {
    buildObjects();
    for (const { object } of Object.values(PROGRAMS)) {
      objects.push(
        await loadObject(join(BUILD_DIR, object), {
          rodata: { [CONFIG_VARIABLE]: encodeNodeConfig(NODE_CONFIG) },
          pinRoot,
        }),
      );
    }
  });
  afterAll(() => {
    for (const object of objects) object.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  test('every map has the codec layout', () => {
    for (const object of objects) {
      const geometry = (name: string) => {
        const map = object.map(name);
        return { type: map.type, keySize: map.keySize, valueSize: map.valueSize };
      };
      expect(geometry(MAP_NAMES.locals)).toEqual({
        type: 'hash',
        keySize: IPV4_KEY_SIZE,
        valueSize: LOCAL_ENDPOINT_SIZE,
      });
      expect(geometry(MAP_NAMES.remotes)).toEqual({
        type: 'hash',
        keySize: IPV4_KEY_SIZE,
        valueSize: REMOTE_ENDPOINT_SIZE,
      });
      expect(geometry(MAP_NAMES.vteps)).toEqual({
        type: 'hash',
        keySize: IPV4_KEY_SIZE,
        valueSize: VTEP_SIZE,
      });
      expect(geometry(MAP_NAMES.drops)).toEqual({ type: 'percpu_array', keySize: 4, valueSize: 8 });
      expect(object.map(MAP_NAMES.drops).maxEntries).toBe(DROP_REASONS.length);
      expect(geometry(MAP_NAMES.stats)).toEqual({ type: 'percpu_array', keySize: 4, valueSize: 8 });
      expect(object.map(MAP_NAMES.stats).maxEntries).toBe(STATS.length);
      expect(geometry(MAP_NAMES.traffic)).toEqual({
        type: 'lru_percpu_hash',
        keySize: TRAFFIC_KEY_SIZE,
        valueSize: TRAFFIC_VALUE_SIZE,
      });
      expect(object.map(MAP_NAMES.flows).type).toBe('ringbuf');
      expect(geometry(MAP_NAMES.policy)).toEqual({
        type: 'lpm_trie',
        keySize: POLICY_KEY_SIZE,
        valueSize: POLICY_VALUE_SIZE,
      });
      expect(geometry(MAP_NAMES.prefixes)).toEqual({
        type: 'lpm_trie',
        keySize: PREFIX_KEY_SIZE,
        valueSize: PREFIX_VALUE_SIZE,
      });
      expect(geometry(MAP_NAMES.conntrack)).toEqual({
        type: 'lru_hash',
        keySize: CT_KEY_SIZE,
        valueSize: CT_VALUE_SIZE,
      });
      expect(object.map(MAP_NAMES.conntrack).maxEntries).toBe(262144);
      expect(geometry(MAP_NAMES.verdicts)).toEqual({
        type: 'percpu_hash',
        keySize: VERDICT_KEY_SIZE,
        valueSize: VERDICT_VALUE_SIZE,
      });
    }
  });

  test('all four objects share one pinned instance of each map', () => {
    for (const name of Object.values(MAP_NAMES)) {
      const ids = new Set(objects.map((object) => object.map(name).id));
      expect([name, ids.size]).toEqual([name, 1]);
    }
  });

  test('an entry written through one object is seen through the others', () => {
    const key = encodeIpv4('10.244.9.9');
    const value = encodeLocalEndpoint({
      ifindex: 9,
      vni: 42,
      identity: 9,
      mac: '0a:58:0a:f4:09:09',
    });
    objects[0].map(MAP_NAMES.locals).update(key, value);
    for (const object of objects) {
      expect(object.map(MAP_NAMES.locals).lookup(key)?.toString('hex')).toBe(value.toString('hex'));
    }
    expect(objects[3].map(MAP_NAMES.locals).delete(key)).toBe(true);
    expect(objects[0].map(MAP_NAMES.locals).delete(key)).toBe(false);
  });
});

withBpf('pins outlive the loader', () => {
  test('a reloaded object finds the counters and endpoints it left behind', async () => {
    const pinRoot = privatePinRoot('reload');
    const pods = localPods(101);
    const spoofed = ethernet(
      { dst: GATEWAY_MAC, src: '0a:58:de:ad:be:ef', type: ETH_P_IPV4 },
      ipv4(
        { src: pods.pod1.ip, dst: REMOTE_PODS.remote1.ip, protocol: IPPROTO_UDP },
        Buffer.alloc(8),
      ),
    );
    const first = await DataplaneFixture.load('tcPodEgress', NODE_CONFIG, pinRoot);
    try {
      first.setWorld(world(pods));
      expect(first.run(spoofed, { skb: { ingressIfindex: 101 } }).action).toBe(TC_ACT_SHOT);
    } finally {
      first.release();
    }
    const second = await loadObject(join(BUILD_DIR, PROGRAMS.tcPodEgress.object), {
      rodata: { [CONFIG_VARIABLE]: encodeNodeConfig(NODE_CONFIG) },
      pinRoot,
    });
    try {
      const drops = second.map(MAP_NAMES.drops).lookup(encodeIndex(dropReasonCode('spoofed_mac')));
      expect(drops && decodeCounter(drops)).toBe(1n);
      expect(second.map(MAP_NAMES.locals).lookup(encodeIpv4(pods.pod1.ip))).toBeDefined();
    } finally {
      second.close();
      rmSync(pinRoot, { recursive: true, force: true });
    }
  });
});

withBpf('flow records', () => {
  const pods = localPods(101);
  const { remote1 } = REMOTE_PODS;
  const toRemote = ipv4(
    { src: pods.pod1.ip, dst: remote1.ip, protocol: IPPROTO_UDP, ttl: 64 },
    udp({ src: pods.pod1.ip, dst: remote1.ip, sport: 40000, dport: 5353 }, Buffer.alloc(10)),
  );
  const frame = (srcMac: string) =>
    ethernet({ dst: GATEWAY_MAC, src: srcMac, type: ETH_P_IPV4 }, toRemote);
  const spoofed = frame('0a:58:de:ad:be:ef');
  const skb = { skb: { ingressIfindex: pods.pod1.ifindex } };

  async function fixtureWith(name: string, sampling: object): Promise<DataplaneFixture> {
    const fixture = await DataplaneFixture.load(
      'tcPodEgress',
      { ...NODE_CONFIG, ...sampling },
      privatePinRoot(`flows-${name}`),
    );
    fixture.setWorld(world(pods));
    return fixture;
  }

  beforeAll(() => buildObjects());

  test('every packet recorded: a forwarded and a dropped one, fully decoded', async () => {
    const fixture = await fixtureWith('all', { flowSampleEvery: 1, flowMaxPerSecond: 1000 });
    try {
      const sent = frame(pods.pod1.mac);
      expect(fixture.run(sent, skb).stats).toEqual({ encapsulated: 1, flow_recorded: 1 });
      expect(fixture.run(spoofed, skb).stats).toEqual({ flow_recorded: 1 });
      const [forwarded, dropped] = fixture.flowRecords();
      expect(forwarded).toEqual({
        timestampNs: expect.any(BigInt),
        source: pods.pod1.ip,
        destination: remote1.ip,
        sourcePort: 40000,
        destinationPort: 5353,
        protocol: IPPROTO_UDP,
        point: 'tc_pod',
        outcome: 'forwarded',
        code: 'encapsulated',
        srcIdentity: pods.pod1.identity,
        dstIdentity: remote1.identity,
        vni: pods.pod1.vni,
        bytes: sent.length,
        sampleEvery: 1,
      });
      expect(dropped).toMatchObject({ outcome: 'dropped', code: 'spoofed_mac', sourcePort: 40000 });
      expect(dropped.timestampNs).toBeGreaterThanOrEqual(forwarded.timestampNs);
      expect(fixture.flowRecords()).toEqual([]);
    } finally {
      fixture.close();
    }
  });

  test('1 in N sampled: 8 packets on one CPU at N = 4 give 2 records standing for 4 each', async () => {
    const fixture = await fixtureWith('sampled', { flowSampleEvery: 4, flowMaxPerSecond: 1000 });
    try {
      const result = fixture.run(spoofed, { ...skb, repeat: 8 });
      expect(result.drops).toEqual({ spoofed_mac: 8 });
      expect(result.stats).toEqual({ flow_recorded: 2 });
      const records = fixture.flowRecords();
      expect(records.map((record) => record.sampleEvery)).toEqual([4, 4]);
    } finally {
      fixture.close();
    }
  });

  test('rate-limited: at most flowMaxPerSecond records per CPU, the rest only counted', async () => {
    const fixture = await fixtureWith('limited', { flowSampleEvery: 1, flowMaxPerSecond: 3 });
    try {
      const result = fixture.run(spoofed, { ...skb, repeat: 10 });
      expect(result.stats).toEqual({ flow_recorded: 3, flow_rate_limited: 7 });
      expect(fixture.flowRecords()).toHaveLength(3);
    } finally {
      fixture.close();
    }
  });

  test('sampling off: no records, no recorder counters', async () => {
    const fixture = await fixtureWith('off', { flowSampleEvery: 0 });
    try {
      expect(fixture.run(spoofed, { ...skb, repeat: 5 }).stats).toEqual({});
      expect(fixture.flowRecords()).toEqual([]);
    } finally {
      fixture.close();
    }
  });
});
