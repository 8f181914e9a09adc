/**
 * The BPF programs agree with the reference evaluator (docs/policy.md: "the compiled tables and
 * the BPF lookups must agree with it"). Random worlds are folded by libs/forwarding into node-1's
 * tables; the agent's codecs write them into the maps of tc_pod_egress and tc_ul_ingress (one
 * pin root, shared maps); random packets run through BPF_PROG_RUN. For each: the packet is
 * dropped as policy_denied exactly when evaluatePolicy denies it in the directions node-1
 * enforces, and strata_verdicts counts exactly the evaluator's rules (enforced, and staged where
 * the staged verdict differs) for every direction that has rows.
 */
import {
  DomainError,
  decidePolicy,
  type LabelSelectorInput,
  type Labels,
  type PolicyPeerInput,
  type PolicyPortInput,
  type PolicyRuleInput,
  type PolicySpecInput,
  type PolicyTier,
} from '@strata/domain';
import {
  applyEvents,
  createForwardingState,
  evaluatePolicy,
  type FoldableEvent,
  type ForwardingTables,
} from '@strata/forwarding';
import {
  DataplaneFixture,
  TC_ACT_SHOT,
  bpfSkipReason,
  buildObjects,
  privatePinRoot,
  type VerdictDelta,
  type World,
} from '../../../dataplane/bpf/testing/harness';
import { VERDICT_KINDS } from '../../../dataplane/bpf/maps';
import { parsePolicyKey } from '../../../services/agent/src/bpf/policy-view';
import {
  ETH_P_IPV4,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_SYN,
  ethernet,
  icmpEcho,
  ipv4,
  tcp,
  udp,
  vxlanFrame,
} from '../../support/packets';

const SELF = 'node-1';
const NODES = [
  { name: 'node-1', vtepAddress: '192.168.1.1', vtepMac: '02:00:00:00:01:01' },
  { name: 'node-2', vtepAddress: '192.168.1.2', vtepMac: '02:00:00:00:01:02' },
];
const VNI = 100;
const GATEWAY_MAC = 'ee:ee:ee:ee:ee:ee';
const IPPROTO_SCTP = 132;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP'] as const;
const PROTOCOL_NUMBERS = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP, ICMP: 1 };
const PORTS = [1, 52, 53, 54, 79, 80, 81, 443, 1000, 1023, 1024, 8080, 8081, 65_535];
const CIDRS: PolicyPeerInput[] = [
  { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] },
  { cidr: '198.51.100.0/24' },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] },
];
const WORLD_ADDRESSES = ['192.0.2.200', '192.0.2.10', '198.51.100.7', '8.8.8.8'];

/** mulberry32: reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pod {
  readonly ip: string;
  readonly mac: string;
  readonly node: string;
}

function randomWorld(seed: number) {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const events: FoldableEvent[] = [];
  const revisions = new Map<string, number>();
  const append = (stream: string, ...batch: { type: string; data: unknown }[]) => {
    for (const { type, data } of batch) {
      const revision = (revisions.get(stream) ?? -1) + 1;
      revisions.set(stream, revision);
      events.push({ stream, revision, position: events.length + 1, type, data });
    }
  };
  append('segment-s1', {
    type: 'SegmentCreated',
    data: { segmentId: 's1', name: 's1', vni: VNI, subnets: ['10.0.0.0/16'], federated: false },
  });
  for (const node of NODES) {
    append(`node-${node.name}`, {
      type: 'NodeRegistered',
      data: { ...node, registeredAt: '2024-05-01T12:00:00.000Z' },
    });
  }
  // One identity per label set (no per-replica keys here), as the allocator gives them.
  const identities = new Map<string, number>();
  const identityOf = (labels: Labels) => {
    const key = JSON.stringify(Object.entries(labels).sort());
    if (!identities.has(key)) identities.set(key, 256 + identities.size);
    return identities.get(key)!;
  };
  const namedPortsOf = (labels: Labels) =>
    labels.app === 'a'
      ? [{ name: 'http', protocol: 'TCP', port: 80 }]
      : labels.app === 'b'
        ? [
            { name: 'dns', protocol: 'UDP', port: 53 },
            { name: 'http', protocol: 'TCP', port: 8080 },
          ]
        : [];
  const pods: Pod[] = [];
  for (let i = 0; i < 10; i++) {
    const labels: Record<string, string> = { app: pick(['a', 'b', 'c']) };
    if (random() < 0.5) labels.role = pick(['front', 'back']);
    const pod = {
      ip: `10.0.0.${i + 1}`,
      mac: `0a:58:0a:00:00:${(16 + i).toString(16)}`,
      node: i < 5 ? SELF : 'node-2',
    };
    append(`endpoint-p${i}`, {
      type: 'EndpointCreated',
      data: {
        uid: `p${i}`,
        segmentId: 's1',
        ...pod,
        labels,
        kind: 'pod',
        identity: identityOf(labels),
        namedPorts: namedPortsOf(labels),
      },
    });
    pods.push(pod);
  }
  const externals = ['192.0.2.7', '192.0.2.150', '203.0.113.5'];
  externals.forEach((ip, i) => {
    const labels = { app: pick(['a', 'db']), host: `h${i}` };
    append(`endpoint-x${i}`, {
      type: 'EndpointCreated',
      data: {
        uid: `x${i}`,
        segmentId: 's1',
        node: '',
        ip,
        mac: '',
        labels,
        kind: 'external',
        identity: identityOf(labels),
        namedPorts: [],
      },
    });
  });
  const selector = (): LabelSelectorInput => {
    const roll = random();
    if (roll < 0.2) return {};
    if (roll < 0.7) return { matchLabels: { app: pick(['a', 'b', 'c', 'db']) } };
    if (roll < 0.85) return { matchExpressions: [{ key: 'role', operator: 'Exists' }] };
    return { matchLabels: { 'strata.io/kind': pick(['pod', 'external']) } };
  };
  const port = (): PolicyPortInput => {
    const protocol = pick(['TCP', 'TCP', 'UDP', 'SCTP'] as const);
    const roll = random();
    if (roll < 0.2) return { protocol, name: pick(['http', 'dns', 'nope']) };
    const first = pick([53, 80, 81, 443, 1000, 8080, 1]);
    return roll < 0.6
      ? { protocol, port: first }
      : { protocol, port: first, endPort: first + pick([1, 2, 23, 1000]) };
  };
  const rule = (tier: PolicyTier): PolicyRuleInput => ({
    action: pick(tier === 'baseline' ? ['allow', 'deny'] : ['allow', 'deny', 'pass']),
    peers: Array.from({ length: pick([0, 1, 1, 2]) }, () =>
      random() < 0.35 ? pick(CIDRS) : { selector: selector() },
    ),
    ports: Array.from({ length: pick([0, 0, 1, 2]) }, port),
  });
  for (let i = 0; i < 3 + Math.floor(random() * 6); i++) {
    const tier = pick(['platform', 'application', 'application', 'baseline'] as const);
    const directions = pick([['ingress'], ['egress'], ['ingress', 'egress']] as const);
    const spec: PolicySpecInput = {
      name: `p${i}`,
      tier,
      priority: pick([10, 20, 1000]),
      selector: selector(),
      directions: [...directions],
      ingress: directions.some((d) => d === 'ingress')
        ? Array.from({ length: pick([0, 1, 2, 3]) }, () => rule(tier))
        : [],
      egress: directions.some((d) => d === 'egress')
        ? Array.from({ length: pick([0, 1, 2, 3]) }, () => rule(tier))
        : [],
      staged: random() < 0.2,
    };
    try {
      append(
        `policy-pol-${i}`,
        ...decidePolicy(
          { type: 'CreatePolicy', data: { policyId: `pol-${i}`, ...spec } },
          { status: 'empty' },
        ),
      );
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }
  return { events, pods, externals, random, pick };
}

/** The maps node-1's agent would write for `tables`, through its codecs. */
function mapsOf(tables: ForwardingTables, local: readonly Pod[]): World {
  return {
    locals: Object.fromEntries(
      local.map((pod, i) => {
        const entry = tables.local.get(pod.ip)!;
        return [
          pod.ip,
          { ifindex: 100 + i, vni: entry.vni, identity: entry.identity, mac: pod.mac },
        ];
      }),
    ),
    remotes: Object.fromEntries(
      [...tables.remote].map(([ip, entry]) => [
        ip,
        {
          vtepAddress: entry.vtepAddress,
          vni: entry.vni,
          identity: entry.identity,
          vtepMac: entry.vtepMac,
          mac: entry.mac,
        },
      ]),
    ),
    vteps: Object.fromEntries([...tables.vteps.values()].map((v) => [v.address, { flags: 0 }])),
    policy: [...tables.policy].map(([key, value]) => ({ key: parsePolicyKey(key), value })),
    prefixes: [...tables.prefixes].map(([key, { identity }]) => {
      const [address, length] = key.split('/');
      return { key: { address, length: Number(length) }, identity };
    }),
  };
}

function l4(protocol: (typeof PROTOCOLS)[number], src: string, dst: string, port: number) {
  switch (protocol) {
    case 'TCP':
      return tcp({ src, dst, sport: 40000, dport: port, flags: TCP_SYN });
    case 'UDP':
      return udp({ src, dst, sport: 40000, dport: port }, Buffer.from('x'));
    case 'SCTP': {
      const header = Buffer.alloc(12); // ports, verification tag, checksum: only ports are read
      header.writeUInt16BE(40000, 0);
      header.writeUInt16BE(port, 2);
      return header;
    }
    case 'ICMP':
      return icmpEcho(1, 1, Buffer.from('x'));
  }
}

/** What one enforced direction contributes to strata_verdicts. */
function expectedCounts(
  hasRows: boolean,
  side: { verdict: string; rule: number },
  staged: { verdict: string; rule: number },
): Array<[number, (typeof VERDICT_KINDS)[number]]> {
  if (!hasRows) return [];
  const counts: Array<[number, (typeof VERDICT_KINDS)[number]]> = [
    [side.rule, side.verdict === 'allow' ? 'allowed' : 'denied'],
  ];
  if (staged.verdict !== side.verdict) {
    counts.push([
      staged.rule,
      side.verdict === 'allow' ? 'staged_would_deny' : 'staged_would_allow',
    ]);
  }
  return counts;
}

function summed(counts: Array<[number, (typeof VERDICT_KINDS)[number]]>, bytes: number) {
  const byKey = new Map<string, VerdictDelta>();
  for (const [rule, kind] of counts) {
    const key = `${rule}/${kind}`;
    const previous = byKey.get(key);
    byKey.set(key, {
      rule,
      kind,
      packets: (previous?.packets ?? 0) + 1,
      bytes: (previous?.bytes ?? 0) + bytes,
    });
  }
  return [...byKey.values()].sort(
    (a, b) => a.rule - b.rule || VERDICT_KINDS.indexOf(a.kind) - VERDICT_KINDS.indexOf(b.kind),
  );
}

const rowsFor = (tables: ForwardingTables, dir: 'i' | 'e', local: number, peer: number) =>
  tables.policy.has(`${dir}:${local}:${peer}:*`) || tables.policy.has(`${dir}:${local}:*:*`);

const skipReason = bpfSkipReason();
if (skipReason) console.warn(`BPF policy agreement tests skipped: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

suite('the BPF programs agree with the reference evaluator', () => {
  const pinRoot = privatePinRoot('policy-agreement');
  let pod: DataplaneFixture;
  let underlay: DataplaneFixture;
  const seen = { denied: 0, allowed: 0, counted: 0, staged: 0 };

  beforeAll(async () => {
    buildObjects();
    const config = {
      vtepAddress: NODES[0].vtepAddress,
      vtepMac: NODES[0].vtepMac,
      underlayIfindex: 1000,
      gatewayMac: GATEWAY_MAC,
      flowSampleEvery: 0,
    };
    pod = await DataplaneFixture.load('tcPodEgress', config, pinRoot);
    underlay = await DataplaneFixture.load('tcUnderlayIngress', config, pinRoot);
  });
  afterAll(() => {
    underlay?.release();
    pod?.close();
    // The afterAll of a suite that saw nothing would prove nothing.
    expect(seen.denied).toBeGreaterThan(100);
    expect(seen.allowed).toBeGreaterThan(100);
    expect(seen.counted).toBeGreaterThan(100);
    expect(seen.staged).toBeGreaterThan(5);
  });

  it.each(Array.from({ length: 12 }, (_, i) => i + 1))(
    'random world %i',
    (seed) => {
      const world = randomWorld(seed);
      const state = applyEvents(createForwardingState(SELF), world.events);
      const tables = state.tables;
      const local = world.pods.filter((p) => p.node === SELF);
      const remote = world.pods.filter((p) => p.node !== SELF);
      pod.setWorld(mapsOf(tables, local));
      const { pick, random } = world;
      const destinations = [...world.pods.map((p) => p.ip), ...world.externals, ...WORLD_ADDRESSES];
      const mismatches: unknown[] = [];

      for (let i = 0; i < 300; i++) {
        const protocol = pick(PROTOCOLS);
        const port =
          protocol === 'ICMP'
            ? 0
            : random() < 0.8
              ? pick(PORTS)
              : 1 + Math.floor(random() * 65_535);
        const fromOverlay = random() < 0.3;
        const source = fromOverlay ? pick(remote) : pick(local);
        const destination = fromOverlay
          ? pick(local).ip
          : pick(destinations.filter((d) => d !== source.ip));
        const ip = ipv4(
          { src: source.ip, dst: destination, protocol: PROTOCOL_NUMBERS[protocol], ttl: 64 },
          l4(protocol, source.ip, destination, port),
        );
        const expected = evaluatePolicy(state, { source: source.ip, destination, protocol, port });
        const srcId = expected.sourceIdentity;
        const dstId = expected.destinationIdentity;
        const dstLocal = tables.local.has(destination);
        let counts: Array<[number, (typeof VERDICT_KINDS)[number]]> = [];
        let denied: boolean;
        let result;
        pod.clearConnections();
        if (fromOverlay) {
          const inner = ethernet(
            { dst: tables.local.get(destination)!.mac, src: NODES[1].vtepMac, type: ETH_P_IPV4 },
            ip,
          );
          result = underlay.run(
            vxlanFrame(
              {
                outerDstMac: NODES[0].vtepMac,
                outerSrcMac: NODES[1].vtepMac,
                outerSrc: NODES[1].vtepAddress,
                outerDst: NODES[0].vtepAddress,
                sport: 50000,
                vxlan: { vni: VNI, groupPolicyId: srcId },
              },
              inner,
            ),
            { skb: {} },
          );
          denied = expected.ingress.verdict === 'deny';
          counts = expectedCounts(
            rowsFor(tables, 'i', dstId, srcId),
            expected.ingress,
            expected.staged.ingress,
          );
        } else {
          const index = local.indexOf(source);
          result = pod.run(ethernet({ dst: GATEWAY_MAC, src: source.mac, type: ETH_P_IPV4 }, ip), {
            skb: { ingressIfindex: 100 + index },
          });
          denied = expected.egress.verdict === 'deny';
          counts = expectedCounts(
            rowsFor(tables, 'e', srcId, dstId),
            expected.egress,
            expected.staged.egress,
          );
          if (!denied && dstLocal) {
            denied = expected.ingress.verdict === 'deny';
            counts.push(
              ...expectedCounts(
                rowsFor(tables, 'i', dstId, srcId),
                expected.ingress,
                expected.staged.ingress,
              ),
            );
          }
        }
        const bytes = fromOverlay ? 14 + ip.length : 14 + ip.length;
        const want = { denied, verdicts: summed(counts, bytes) };
        const got = {
          denied: result.action === TC_ACT_SHOT && result.drops.policy_denied === 1,
          verdicts: result.verdicts,
        };
        if (result.action === TC_ACT_SHOT && result.drops.policy_denied !== 1) {
          mismatches.push({
            packet: { source: source.ip, destination, protocol, port },
            drops: result.drops,
          });
        } else if (JSON.stringify(got) !== JSON.stringify(want)) {
          mismatches.push({
            packet: { source: source.ip, destination, protocol, port },
            want,
            got,
          });
        }
        seen[denied ? 'denied' : 'allowed']++;
        if (counts.length > 0) seen.counted++;
        if (counts.some(([, kind]) => kind.startsWith('staged'))) seen.staged++;
      }
      expect(mismatches.slice(0, 3)).toEqual([]);
    },
    30_000,
  );
});
