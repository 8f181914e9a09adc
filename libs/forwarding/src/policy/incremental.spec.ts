import {
  DomainError,
  decidePolicy,
  type LabelSelectorInput,
  type Labels,
  type PolicyPeerInput,
  type PolicyPortInput,
  type PolicyRuleInput,
  type PolicyTier,
} from '@strata/domain';
import {
  applyEvents,
  createForwardingState,
  type FoldableEvent,
  type ForwardingState,
} from '../forwarding-state';
import { tablesToJson, type PolicyEntry } from '../tables';
import { prng } from '../testing/event-log';
import { clusterLog, identityAllocator } from '../testing/policy-world';

/**
 * The compiler keeps what does not change between batches (each policy's rules, selector
 * members, the classes of peers of each unit) and rewrites only the peers whose function
 * changed. Random histories — pods created, relabelled, moved and deleted on three nodes,
 * external endpoints in and out of CIDR peers, policies created, updated and deleted, named
 * ports that differ between the holders of an identity — are folded in random batches, the
 * tables read after each: after every batch the tables equal a fresh fold of the same events,
 * and the batch's changed policy keys are exactly the keys whose entries differ.
 */

const SELF = 'node-1';
const NODES = ['node-1', 'node-2', 'node-3'];
const CIDRS: PolicyPeerInput[] = [
  { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] },
  { cidr: '198.51.100.0/24' },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] },
];
const EXTERNAL_IPS = ['192.0.2.7', '192.0.2.150', '198.51.100.9', '203.0.113.5'];

function randomHistory(seed: number): FoldableEvent[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const log = clusterLog(NODES);
  const identityOf = identityAllocator();
  const randomLabels = (): Labels => {
    const labels: Record<string, string> = { app: pick(['a', 'b', 'c']) };
    if (random() < 0.7) labels['strata.io/namespace'] = pick(['x', 'y']);
    if (random() < 0.3) labels.role = pick(['front', 'back']);
    return labels;
  };
  // Not a function of the labels: holders of one identity may name ports differently.
  const randomNamedPorts = () =>
    random() < 0.5
      ? []
      : [
          { name: 'http', protocol: 'TCP', port: pick([80, 8080]) },
          ...(random() < 0.5 ? [{ name: 'dns', protocol: 'UDP', port: 53 }] : []),
        ];
  const randomSelector = (): LabelSelectorInput => {
    const roll = random();
    if (roll < 0.1) return {};
    if (roll < 0.5) return { matchLabels: { app: pick(['a', 'b', 'c', 'db']) } };
    if (roll < 0.7) {
      return {
        matchLabels: { 'strata.io/namespace': pick(['x', 'y']) },
        matchExpressions: [
          { key: 'app', operator: pick(['In', 'NotIn']), values: [pick(['a', 'b'])] },
        ],
      };
    }
    if (roll < 0.8) {
      return {
        matchExpressions: [{ key: 'app', operator: 'In', values: ['a', pick(['b', 'c'])] }],
      };
    }
    if (roll < 0.9) {
      return { matchExpressions: [{ key: 'role', operator: pick(['Exists', 'DoesNotExist']) }] };
    }
    return { matchLabels: { 'strata.io/kind': pick(['pod', 'external']) } };
  };
  const randomPort = (): PolicyPortInput => {
    const protocol = pick(['TCP', 'TCP', 'UDP'] as const);
    const roll = random();
    if (roll < 0.25) return { protocol, name: pick(['http', 'dns']) };
    const port = pick([53, 80, 443, 8080]);
    return roll < 0.6 ? { protocol, port } : { protocol, port, endPort: port + pick([1, 100]) };
  };
  const randomRule = (tier: PolicyTier): PolicyRuleInput => {
    const actions =
      tier === 'baseline' ? (['allow', 'deny'] as const) : (['allow', 'deny', 'pass'] as const);
    const peers: PolicyPeerInput[] = [];
    for (let i = pick([0, 1, 1, 2]); i > 0; i--) {
      peers.push(random() < 0.25 ? pick(CIDRS) : { selector: randomSelector() });
    }
    const ports: PolicyPortInput[] = [];
    for (let i = pick([0, 1, 1, 2]); i > 0; i--) ports.push(randomPort());
    return { action: pick(actions), peers, ports };
  };
  const policyEvent = (policyId: string, type: 'PolicyCreated' | 'PolicyUpdated') => {
    const tier = pick(['platform', 'application', 'application', 'baseline'] as const);
    const directions = pick([['ingress'], ['egress'], ['ingress', 'egress']] as const);
    const rules = (direction: 'ingress' | 'egress') =>
      (directions as readonly string[]).includes(direction)
        ? Array.from({ length: pick([0, 1, 2, 3]) }, () => randomRule(tier))
        : [];
    try {
      const [created] = decidePolicy(
        {
          type: 'CreatePolicy',
          data: {
            policyId,
            name: policyId,
            tier,
            priority: pick([10, 20, 1000]),
            selector: randomSelector(),
            directions: [...directions],
            ingress: rules('ingress'),
            egress: rules('egress'),
            staged: random() < 0.2,
          },
        },
        { status: 'empty' },
      );
      return { type, data: created.data };
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return undefined;
    }
  };

  const pods = new Map<string, { labels: Labels; node: string }>();
  const externals = new Set<string>();
  const policies = new Set<string>();
  let next = 0;
  const createPod = () => {
    const uid = `p${next++}`;
    const labels = randomLabels();
    const node = pick(NODES);
    pods.set(uid, { labels, node });
    log.append(`endpoint-${uid}`, {
      type: 'EndpointCreated',
      data: {
        uid,
        segmentId: 's1',
        node,
        ip: `10.0.${next >> 8}.${next & 255}`,
        mac: '0a:58:0a:00:00:01',
        labels,
        kind: 'pod',
        identity: identityOf(labels, 'pod'),
        namedPorts: randomNamedPorts(),
      },
    });
  };
  for (let i = 0; i < 10; i++) createPod();
  const steps = 60;
  for (let step = 0; step < steps; step++) {
    const roll = random();
    const podIds = [...pods.keys()];
    if (roll < 0.15) {
      createPod();
    } else if (roll < 0.22 && podIds.length > 0) {
      const uid = pick(podIds);
      pods.delete(uid);
      log.append(`endpoint-${uid}`, { type: 'EndpointDeleted', data: { uid } });
    } else if (roll < 0.32 && podIds.length > 0) {
      const uid = pick(podIds);
      const labels = randomLabels();
      pods.get(uid)!.labels = labels;
      log.append(`endpoint-${uid}`, {
        type: 'EndpointLabelsUpdated',
        data: { uid, labels, identity: identityOf(labels, 'pod') },
      });
    } else if (roll < 0.4 && podIds.length > 0) {
      const uid = pick(podIds);
      const pod = pods.get(uid)!;
      const node = pick(NODES);
      log.append(`endpoint-${uid}`, {
        type: 'EndpointMoved',
        data: { uid, node, previousNode: pod.node },
      });
      pod.node = node;
    } else if (roll < 0.5) {
      const ip = pick(EXTERNAL_IPS);
      const uid = `x-${ip}`;
      if (externals.has(uid)) {
        externals.delete(uid);
        log.append(`endpoint-${uid}`, { type: 'EndpointDeleted', data: { uid } });
      } else {
        externals.add(uid);
        const labels = { app: pick(['a', 'db']), host: ip };
        log.append(`endpoint-${uid}`, {
          type: 'EndpointCreated',
          data: {
            uid,
            segmentId: 's1',
            node: '',
            ip,
            mac: '',
            labels,
            kind: 'external',
            identity: identityOf(labels, 'external'),
            namedPorts: randomNamedPorts(),
          },
        });
      }
    } else {
      const policyId = `pol-${Math.floor(random() * 8)}`;
      if (policies.has(policyId) && random() < 0.25) {
        policies.delete(policyId);
        log.append(`policy-${policyId}`, { type: 'PolicyDeleted', data: { policyId } });
      } else {
        const event = policyEvent(
          policyId,
          policies.has(policyId) ? 'PolicyUpdated' : 'PolicyCreated',
        );
        if (event !== undefined) {
          policies.add(policyId);
          log.append(`policy-${policyId}`, event);
        }
      }
    }
  }
  return [...log.events];
}

function policyJson(state: ForwardingState) {
  return tablesToJson(state.tables);
}

function differingKeys(
  before: ReadonlyMap<string, PolicyEntry>,
  after: ReadonlyMap<string, PolicyEntry>,
): string[] {
  const keys = new Set<string>();
  for (const [key, entry] of before) {
    if (JSON.stringify(after.get(key)) !== JSON.stringify(entry)) keys.add(key);
  }
  for (const key of after.keys()) if (!before.has(key)) keys.add(key);
  return [...keys].sort();
}

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);

describe('the incremental compile', () => {
  let batches = 0;
  let rewrites = 0;
  afterAll(() => {
    // The histories exercise batches that change policy rows.
    expect(batches).toBeGreaterThan(500);
    expect(rewrites).toBeGreaterThan(200);
  });

  it.each(SEEDS)('equals a fresh fold after every batch of history %i', (seed) => {
    const events = randomHistory(seed);
    const random = prng(seed * 7919);
    const state = createForwardingState(SELF);
    let folded = 0;
    let previous = new Map(state.tables.policy);
    while (folded < events.length) {
      const size = 1 + Math.floor(random() * 4);
      for (const event of events.slice(folded, folded + size)) state.apply(event);
      folded = Math.min(events.length, folded + size);
      const changes = state.takeChanges();
      const fresh = applyEvents(createForwardingState(SELF), events.slice(0, folded));
      expect(policyJson(state)).toEqual(policyJson(fresh));
      const current = new Map(state.tables.policy);
      expect(current.size).toBe(state.tables.policy.size);
      expect([...changes.policy].sort()).toEqual(differingKeys(previous, current));
      batches++;
      if (changes.policy.size > 0) rewrites++;
      previous = current;
    }
  });
});
