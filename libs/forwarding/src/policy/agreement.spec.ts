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
import { applyEvents, createForwardingState, type ForwardingState } from '../forwarding-state';
import { prng, type EventLog } from '../testing/event-log';
import { clusterLog, identityAllocator } from '../testing/policy-world';
import { EVALUATED_PROTOCOLS, type EvaluatedProtocol } from './evaluate';
import { PROTOCOL_NUMBERS } from './facts';
import { evaluatePolicy, identityOfAddress, lookupPolicy } from './index';

/**
 * The compiled tables agree with the reference evaluator: random worlds (pods on three nodes,
 * external endpoints, random tiered policies with selector and CIDR peers, port ranges and
 * named ports, staged ones), random packets; the BPF's lookups on the compiled tables (egress
 * at the source's node, ingress at the destination's, as the programs combine them) give the
 * evaluator's verdicts and rule ids, enforced and staged.
 */

const NODES = ['node-1', 'node-2', 'node-3'];
const CIDRS: PolicyPeerInput[] = [
  { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] },
  { cidr: '192.0.2.0/26' },
  { cidr: '198.51.100.0/24' },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] },
  { cidr: '192.0.2.128/25' },
];
const WORLD_ADDRESSES = [
  '192.0.2.200',
  '192.0.2.10',
  '192.0.2.100',
  '198.51.100.7',
  '8.8.8.8',
  '10.9.9.9',
];
const PORTS = [0, 1, 52, 53, 54, 79, 80, 81, 82, 443, 1000, 1023, 1024, 8080, 8081, 65_535];

interface World {
  readonly events: EventLog;
  readonly pods: { ip: string; node: string }[];
  readonly externals: string[];
}

function randomWorld(seed: number): World {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const log = clusterLog(NODES);
  // One identity per security label set, as the allocator gives them.
  const identityOf = identityAllocator();
  // Named ports a function of the labels, so every holder of an identity agrees.
  const namedPortsOf = (labels: Labels) =>
    labels.app === 'a'
      ? [{ name: 'http', protocol: 'TCP', port: 80 }]
      : labels.app === 'b'
        ? [
            { name: 'dns', protocol: 'UDP', port: 53 },
            { name: 'http', protocol: 'TCP', port: 8080 },
          ]
        : [];
  const randomLabels = (): Labels => {
    const labels: Record<string, string> = {};
    labels.app = pick(['a', 'b', 'c']);
    if (random() < 0.7) labels['strata.io/namespace'] = pick(['x', 'y']);
    if (random() < 0.3) labels.role = pick(['front', 'back']);
    if (random() < 0.2) labels['pod-template-hash'] = pick(['h1', 'h2']);
    return labels;
  };
  const pods: { ip: string; node: string }[] = [];
  for (let i = 0; i < 14; i++) {
    const labels = randomLabels();
    const node = pick(NODES);
    const ip = `10.0.0.${i + 1}`;
    // Now and then a pod of unknown identity (written before identities existed).
    const identity = random() < 0.08 ? 0 : identityOf(labels, 'pod');
    log.append(`endpoint-p${i}`, {
      type: 'EndpointCreated',
      data: {
        uid: `p${i}`,
        segmentId: 's1',
        node,
        ip,
        mac: `0a:58:0a:00:00:${(16 + i).toString(16)}`,
        labels,
        kind: 'pod',
        identity,
        namedPorts: namedPortsOf(labels),
      },
    });
    pods.push({ ip, node });
  }
  const externals = ['192.0.2.7', '192.0.2.150', '198.51.100.9', '203.0.113.5'];
  externals.forEach((ip, i) => {
    // Unique labels: an identity shared by externals in and out of a CIDR would be ambiguous.
    const labels = { app: pick(['a', 'db']), host: `h${i}` };
    log.append(`endpoint-x${i}`, {
      type: 'EndpointCreated',
      data: {
        uid: `x${i}`,
        segmentId: 's1',
        node: '',
        ip,
        mac: '',
        labels,
        kind: 'external',
        identity: identityOf(labels, 'external'),
        namedPorts: namedPortsOf(labels),
      },
    });
  });
  const randomSelector = (): LabelSelectorInput => {
    const roll = random();
    if (roll < 0.15) return {};
    if (roll < 0.55) return { matchLabels: { app: pick(['a', 'b', 'c', 'db']) } };
    if (roll < 0.7) {
      return {
        matchLabels: { 'strata.io/namespace': pick(['x', 'y']) },
        matchExpressions: [
          { key: 'app', operator: pick(['In', 'NotIn']), values: [pick(['a', 'b'])] },
        ],
      };
    }
    if (roll < 0.8)
      return { matchExpressions: [{ key: 'role', operator: pick(['Exists', 'DoesNotExist']) }] };
    if (roll < 0.9) return { matchLabels: { 'strata.io/kind': pick(['pod', 'external']) } };
    return { matchLabels: { 'pod-template-hash': 'h1' } }; // never matches: per-replica key
  };
  const randomPort = (): PolicyPortInput => {
    const protocol = pick(['TCP', 'TCP', 'UDP', 'SCTP'] as const);
    const roll = random();
    if (roll < 0.2) return { protocol, name: pick(['http', 'dns', 'nope']) };
    const port = pick([53, 80, 81, 443, 1000, 8080, 1]);
    return roll < 0.6
      ? { protocol, port }
      : { protocol, port, endPort: port + pick([1, 2, 23, 1000]) };
  };
  const randomRule = (tier: PolicyTier): PolicyRuleInput => {
    const actions =
      tier === 'baseline' ? (['allow', 'deny'] as const) : (['allow', 'deny', 'pass'] as const);
    const peers: PolicyPeerInput[] = [];
    const peerCount = pick([0, 0, 1, 1, 2]);
    for (let i = 0; i < peerCount; i++) {
      peers.push(random() < 0.35 ? pick(CIDRS) : { selector: randomSelector() });
    }
    const ports: PolicyPortInput[] = [];
    const portCount = pick([0, 0, 1, 1, 2]);
    for (let i = 0; i < portCount; i++) ports.push(randomPort());
    return { action: pick(actions), peers, ports };
  };
  const policies = 2 + Math.floor(random() * 9);
  for (let i = 0; i < policies; i++) {
    const tier = pick(['platform', 'application', 'application', 'baseline'] as const);
    const directions = pick([['ingress'], ['egress'], ['ingress', 'egress']] as const);
    const spec: PolicySpecInput = {
      name: `p${i}`,
      tier,
      priority: pick([10, 20, 20, 1000]),
      selector: randomSelector(),
      directions: [...directions],
      ingress: directions.includes('ingress' as never)
        ? Array.from({ length: pick([0, 1, 2, 3]) }, () => randomRule(tier))
        : [],
      egress: directions.includes('egress' as never)
        ? Array.from({ length: pick([0, 1, 2, 3]) }, () => randomRule(tier))
        : [],
      staged: random() < 0.2,
    };
    try {
      const events = decidePolicy(
        { type: 'CreatePolicy', data: { policyId: `pol-${i}`, ...spec } },
        { status: 'empty' },
      );
      log.append(`policy-pol-${i}`, ...events);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }
  return { events: log, pods, externals };
}

/** What the BPF programs decide for one packet, from the compiled tables of each node. */
function dataplaneVerdict(
  states: ReadonlyMap<string, ForwardingState>,
  world: World,
  source: string,
  destination: string,
  protocol: EvaluatedProtocol,
  port: number,
) {
  const proto = protocol === 'ICMP' ? 1 : PROTOCOL_NUMBERS[protocol];
  const lookupPort = protocol === 'ICMP' ? 0 : port;
  const allow = { verdict: 'allow', rule: 0, stagedVerdict: 'allow', stagedRule: 0 };
  const src = world.pods.find((pod) => pod.ip === source);
  const dst = world.pods.find((pod) => pod.ip === destination);
  let egress = allow;
  let sourceIdentity: number | undefined;
  if (src !== undefined) {
    const tables = states.get(src.node)!.tables;
    sourceIdentity = tables.local.get(source)!.identity;
    egress = {
      ...lookupPolicy(tables, {
        direction: 'egress',
        local: sourceIdentity,
        peer: identityOfAddress(tables, destination),
        protocol: proto,
        port: lookupPort,
      }),
    };
  }
  let ingress = allow;
  if (dst !== undefined) {
    const tables = states.get(dst.node)!.tables;
    // From a pod, the identity stamped in VXLAN-GBP; otherwise the address's.
    const peer = sourceIdentity ?? identityOfAddress(tables, source);
    ingress = {
      ...lookupPolicy(tables, {
        direction: 'ingress',
        local: tables.local.get(destination)!.identity,
        peer,
        protocol: proto,
        port: lookupPort,
      }),
    };
  }
  return { egress, ingress };
}

const SEEDS = Array.from({ length: 25 }, (_, i) => i + 1);

describe('compiled tables agree with the reference evaluator', () => {
  const seen = { allow: 0, deny: 0, rule: 0, isolated: 0, passed: 0, stagedDiffers: 0 };
  afterAll(() => {
    // The worlds exercise every way to a verdict.
    expect(seen.allow).toBeGreaterThan(1000);
    expect(seen.deny).toBeGreaterThan(1000);
    expect(seen.rule).toBeGreaterThan(1000);
    expect(seen.isolated).toBeGreaterThan(300);
    expect(seen.passed).toBeGreaterThan(300);
    expect(seen.stagedDiffers).toBeGreaterThan(100);
  });

  it.each(SEEDS)('on random world %i', (seed) => {
    const world = randomWorld(seed);
    const states = new Map(
      NODES.map((node) => [node, applyEvents(createForwardingState(node), world.events.events)]),
    );
    const any = states.get('node-1')!;
    const addresses = [...world.pods.map((pod) => pod.ip), ...world.externals, ...WORLD_ADDRESSES];
    const random = prng(seed * 31);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const mismatches: unknown[] = [];
    for (let i = 0; i < 1500; i++) {
      const source = pick(addresses);
      const destination = pick(addresses);
      const protocol = pick(EVALUATED_PROTOCOLS);
      const port = random() < 0.8 ? pick(PORTS) : Math.floor(random() * 65_536);
      const expected = evaluatePolicy(any, { source, destination, protocol, port });
      const actual = dataplaneVerdict(states, world, source, destination, protocol, port);
      const want = {
        identity: expected.destinationIdentity,
        egress: {
          verdict: expected.egress.verdict,
          rule: expected.egress.rule,
          stagedVerdict: expected.staged.egress.verdict,
          stagedRule: expected.staged.egress.rule,
        },
        ingress: {
          verdict: expected.ingress.verdict,
          rule: expected.ingress.rule,
          stagedVerdict: expected.staged.ingress.verdict,
          stagedRule: expected.staged.ingress.rule,
        },
      };
      const got = { identity: identityOfAddress(any.tables, destination), ...actual };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches.push({ packet: { source, destination, protocol, port }, want, got });
      }
      seen[expected.verdict]++;
      for (const side of [expected.egress, expected.ingress]) {
        if (side.reason === 'rule') seen.rule++;
        if (side.reason === 'isolated') seen.isolated++;
        if (side.passedTiers.length > 0) seen.passed++;
      }
      if (expected.staged.verdict !== expected.verdict) seen.stagedDiffers++;
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
  });
});
