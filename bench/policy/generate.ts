import type { PolicyPeer, PolicyRule, PolicySpec } from '@strata/domain';
import type { FoldableEvent } from '@strata/forwarding';

/**
 * A generated cluster for the compile benchmark, deterministic (no randomness: the same sizes
 * give the same events): NODES nodes, ENDPOINTS pods over NAMESPACES namespaces, and POLICIES
 * policies, as the log's events in the order a real log would hold them (segment, nodes,
 * endpoints, policies).
 *
 * Pods: namespace `ns-<i % namespaces>`, app `app-<k>` (APPS per namespace) and version v0/v1,
 * plus the namespace labels (`ns.strata.io/ns`, `ns.strata.io/team`: 10 teams): about
 * namespaces x APPS x 2 distinct label sets, each its own identity (numbered from 256 as the
 * allocator numbers them). Every pod has the named port `http` = TCP 8080.
 *
 * Policies, per namespace (a realistic mix):
 * - 70% Kubernetes NetworkPolicy as translated (application tier, priority 1000, allow):
 *   an app's pods take ingress from another app of the namespace on TCP 8080 and from a team's
 *   namespaces on the named port `http`; one in seven also limits egress (TCP 5432 to a
 *   third app);
 * - 20% set-based selectors and port ranges (app In [two apps]; from version NotIn [v1] on
 *   TCP 9000-9100);
 * - 10% tiered (platform and baseline, ANP/BANP style): a team's namespaces denied from
 *   another team's on TCP 22, passes, and one in five denies egress to 0.0.0.0/0 except
 *   10.0.0.0/8 (a CIDR peer, so CIDR atoms too).
 */

export interface ClusterSize {
  readonly nodes: number;
  readonly endpoints: number;
  readonly namespaces: number;
  readonly policies: number;
}

export const APPS = 50;
const TEAMS = 10;
const SEGMENT = 'bench';

export interface GeneratedCluster {
  readonly events: FoldableEvent[];
  /** Distinct identities the pods hold. */
  readonly identities: number;
  /** Index of the first policy event in `events` (everything before: segment, nodes, pods). */
  readonly firstPolicy: number;
  /** The policies' ids and specs, for updates after the compile. */
  readonly policies: readonly { policyId: string; spec: PolicySpec }[];
}

export function nodeName(i: number): string {
  return `node-${i}`;
}

function ipOf(i: number): string {
  return `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

function macOf(i: number): string {
  return `0a:58:${[64 + (i >> 16), (i >> 8) & 255, i & 255, 1]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':')}`;
}

function podLabels(namespace: number, app: number, version: number): Record<string, string> {
  return {
    app: `app-${app}`,
    'ns.strata.io/ns': `ns-${namespace}`,
    'ns.strata.io/team': `team-${namespace % TEAMS}`,
    'strata.io/namespace': `ns-${namespace}`,
    version: `v${version}`,
  };
}

const selector = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });
const peer = (matchLabels: Record<string, string>): PolicyPeer => ({
  selector: selector(matchLabels),
});
const tcp = (port: number, endPort = port) => ({ protocol: 'TCP' as const, port, endPort });

export function generateCluster(size: ClusterSize): GeneratedCluster {
  const events: FoldableEvent[] = [];
  const push = (stream: string, type: string, data: unknown) =>
    events.push({ stream, revision: 0, position: events.length + 1, type, data });

  push(`segment-${SEGMENT}`, 'SegmentCreated', {
    segmentId: SEGMENT,
    name: SEGMENT,
    vni: 4242,
    subnets: ['10.64.0.0/10'],
    federated: false,
  });
  for (let i = 0; i < size.nodes; i++) {
    push(`node-${nodeName(i)}`, 'NodeRegistered', {
      name: nodeName(i),
      vtepAddress: `172.16.${i >> 8}.${(i & 255) + 1}`,
      vtepMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      registeredAt: '2026-01-01T00:00:00.000Z',
    });
  }
  const identities = new Map<string, number>();
  for (let i = 0; i < size.endpoints; i++) {
    const namespace = i % size.namespaces;
    const app = Math.floor(i / size.namespaces) % APPS;
    const version = Math.floor(i / (size.namespaces * APPS)) % 2;
    const key = `${namespace}/${app}/${version}`;
    if (!identities.has(key)) identities.set(key, 256 + identities.size);
    push(`endpoint-ep-${i}`, 'EndpointCreated', {
      uid: `ep-${i}`,
      kind: 'pod',
      segmentId: SEGMENT,
      // Spread so that a node holds pods of many namespaces and apps, as a real node does.
      node: nodeName((i + Math.floor(i / size.nodes)) % size.nodes),
      ip: ipOf(i),
      mac: macOf(i),
      labels: podLabels(namespace, app, version),
      identity: identities.get(key),
      namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    });
  }
  const firstPolicy = events.length;
  const policies: { policyId: string; spec: PolicySpec }[] = [];
  const perNamespace = Math.ceil(size.policies / size.namespaces);
  for (let p = 0; p < size.policies; p++) {
    const namespace = p % size.namespaces;
    const j = Math.floor(p / size.namespaces);
    const policyId = `bench-${namespace}-${j}`;
    const spec = policySpec(namespace, j, perNamespace);
    policies.push({ policyId, spec });
    push(`policy-${policyId}`, 'PolicyCreated', { policyId, ...spec });
  }
  return { events, identities: identities.size, firstPolicy, policies };
}

function policySpec(namespace: number, j: number, perNamespace: number): PolicySpec {
  const ns = `ns-${namespace}`;
  const kind = j % 10;
  if (kind <= 6) {
    const egress = j % 7 === 0;
    const ingress: PolicyRule[] = [
      {
        action: 'allow',
        peers: [peer({ app: `app-${(j + 1) % APPS}`, 'strata.io/namespace': ns })],
        ports: [tcp(8080)],
      },
      {
        action: 'allow',
        peers: [peer({ 'ns.strata.io/team': `team-${(namespace + j) % TEAMS}` })],
        ports: [{ protocol: 'TCP', name: 'http' }],
      },
    ];
    return {
      name: `np-${j}`,
      tier: 'application',
      priority: 1000,
      selector: selector({ app: `app-${j % APPS}`, 'strata.io/namespace': ns }),
      directions: egress ? ['egress', 'ingress'] : ['ingress'],
      ingress,
      egress: egress
        ? [
            {
              action: 'allow',
              peers: [peer({ app: `app-${(j + 2) % APPS}`, 'strata.io/namespace': ns })],
              ports: [tcp(5432)],
            },
          ]
        : [],
      staged: false,
      source: { kind: 'kubernetes', namespace: ns, name: `np-${j}` },
    };
  }
  if (kind <= 8) {
    const apps = [`app-${j % APPS}`, `app-${(j + 3) % APPS}`].sort();
    return {
      name: `sets-${j}`,
      tier: 'application',
      priority: 1000,
      selector: {
        matchLabels: { 'strata.io/namespace': ns },
        matchExpressions: [{ key: 'app', operator: 'In', values: apps }],
      },
      directions: ['ingress'],
      ingress: [
        {
          action: 'allow',
          peers: [
            {
              selector: {
                matchLabels: {},
                matchExpressions: [{ key: 'version', operator: 'NotIn', values: ['v1'] }],
              },
            },
          ],
          ports: [tcp(9000, 9100)],
        },
      ],
      egress: [],
      staged: false,
      source: { kind: 'kubernetes', namespace: ns, name: `sets-${j}` },
    };
  }
  const team = `team-${(namespace + j) % TEAMS}`;
  const cidr = j % 50 === 9;
  const baseline = j % 20 === 19;
  const rules: PolicyRule[] = [
    {
      action: 'deny',
      peers: [peer({ 'ns.strata.io/team': `team-${(namespace + j + 1) % TEAMS}` })],
      ports: [tcp(22)],
    },
  ];
  if (!baseline)
    rules.push({ action: 'pass', peers: [peer({ 'ns.strata.io/team': team })], ports: [] });
  return {
    name: `tier-${j}`,
    tier: baseline ? 'baseline' : 'platform',
    priority: 100 + ((namespace * perNamespace + j) % 1000),
    selector: selector({ 'ns.strata.io/team': team }),
    directions: cidr ? ['egress', 'ingress'] : ['ingress'],
    ingress: rules,
    egress: cidr
      ? [{ action: 'deny', peers: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }], ports: [] }]
      : [],
    staged: false,
    source: { kind: 'strata', namespace: '', name: '' },
  };
}
