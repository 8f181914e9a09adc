import {
  DomainError,
  decidePolicy,
  policyRuleId,
  type Labels,
  type PolicyCommand,
  type PolicySpecInput,
} from '@strata/domain';
import { applyEvents, createForwardingState, type ForwardingState } from '../forwarding-state';
import { EventLog } from '../testing/event-log';
import type { DirectionVerdict, PolicyQuery, PolicyVerdict } from './evaluate';
import { PROTOCOL_NUMBERS } from './facts';
import { evaluatePolicy, identityOfAddress, lookupPolicy } from './index';

/**
 * The reference semantics, rule by rule (docs/policy.md, "Evaluation"). Each case is built so
 * that getting its precedence rule wrong gives another verdict or another rule; each is also
 * checked against the compiled tables (the BPF lookups at the source's and destination's
 * nodes).
 */

interface Endpoint {
  readonly uid: string;
  readonly node: string;
  readonly ip: string;
  readonly labels: Labels;
  readonly identity: number;
  readonly namedPorts?: { name: string; protocol: 'TCP' | 'UDP' | 'SCTP'; port: number }[];
}

const WEB: Endpoint = {
  uid: 'web',
  node: 'node-1',
  ip: '10.0.0.1',
  labels: { app: 'web', 'strata.io/namespace': 'prod' },
  identity: 300,
  namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }],
};
const DB: Endpoint = {
  uid: 'db',
  node: 'node-2',
  ip: '10.0.0.2',
  labels: { app: 'db', 'strata.io/namespace': 'prod' },
  identity: 301,
  namedPorts: [{ name: 'pg', protocol: 'TCP', port: 5432 }],
};
const OTHER: Endpoint = {
  uid: 'other',
  node: 'node-2',
  ip: '10.0.0.3',
  labels: { app: 'other', 'strata.io/namespace': 'dev' },
  identity: 302,
};
const LEGACY_DB: Endpoint = {
  uid: 'legacy',
  node: '',
  ip: '192.0.2.10',
  labels: { group: 'legacy-db' },
  identity: 303,
};
const PARTNER: Endpoint = {
  uid: 'partner',
  node: '',
  ip: '198.51.100.5',
  labels: { group: 'partners' },
  identity: 304,
};
const ENDPOINTS = [WEB, DB, OTHER, LEGACY_DB, PARTNER];

type Policy = { policyId: string } & Partial<PolicySpecInput>;

function world(policies: readonly Policy[], updates: readonly Policy[] = []): EventLog {
  const log = new EventLog().append('segment-s1', {
    type: 'SegmentCreated',
    data: { segmentId: 's1', name: 's1', vni: 100, subnets: ['10.0.0.0/16'], federated: false },
  });
  for (const name of ['node-1', 'node-2']) {
    log.append(`node-${name}`, {
      type: 'NodeRegistered',
      data: {
        name,
        vtepAddress: `192.168.1.${name.slice(-1)}`,
        vtepMac: '02:00:00:00:01:01',
        registeredAt: '2024-05-01T12:00:00.000Z',
      },
    });
  }
  for (const endpoint of ENDPOINTS) {
    log.append(`endpoint-${endpoint.uid}`, {
      type: 'EndpointCreated',
      data: {
        uid: endpoint.uid,
        segmentId: 's1',
        node: endpoint.node,
        ip: endpoint.ip,
        mac: endpoint.node === '' ? '' : '0a:58:0a:00:00:01',
        labels: endpoint.labels,
        kind: endpoint.node === '' ? 'external' : 'pod',
        identity: endpoint.identity,
        namedPorts: endpoint.namedPorts ?? [],
      },
    });
  }
  const states = new Map<string, Parameters<typeof decidePolicy>[1]>();
  const run = (policy: Policy, type: 'CreatePolicy' | 'UpdatePolicy') => {
    const spec = {
      name: policy.policyId,
      tier: 'application',
      priority: 100,
      selector: {},
      ...policy,
    } as { policyId: string } & PolicySpecInput;
    const state = states.get(policy.policyId) ?? { status: 'empty' };
    const command = { type, data: type === 'CreatePolicy' ? spec : policy } as PolicyCommand;
    const events = decidePolicy(command, state);
    let next = state;
    for (const event of events) {
      next = event.type === 'PolicyDeleted' ? next : { status: 'active', ...event.data };
    }
    states.set(policy.policyId, next);
    log.append(`policy-${policy.policyId}`, ...events);
  };
  for (const policy of policies) run(policy, 'CreatePolicy');
  for (const policy of updates) run(policy, 'UpdatePolicy');
  return log;
}

const states = (log: EventLog) =>
  new Map(
    ['node-1', 'node-2'].map((node) => [
      node,
      applyEvents(createForwardingState(node), log.events),
    ]),
  );

/** The BPF's verdict from the compiled tables: egress at the source's node, ingress at the destination's. */
function compiled(nodes: Map<string, ForwardingState>, query: PolicyQuery) {
  const protocol = query.protocol === 'ICMP' ? 1 : PROTOCOL_NUMBERS[query.protocol];
  const port = query.protocol === 'ICMP' ? 0 : query.port;
  const source = ENDPOINTS.find((e) => e.ip === query.source && e.node !== '');
  const destination = ENDPOINTS.find((e) => e.ip === query.destination && e.node !== '');
  const side = (
    endpoint: Endpoint | undefined,
    direction: 'ingress' | 'egress',
    peerIp: string,
  ) => {
    if (endpoint === undefined)
      return { verdict: 'allow', rule: 0, stagedVerdict: 'allow', stagedRule: 0 };
    const tables = nodes.get(endpoint.node)!.tables;
    const peer =
      direction === 'ingress' && source !== undefined
        ? source.identity
        : identityOfAddress(tables, peerIp);
    return {
      ...lookupPolicy(tables, { direction, local: endpoint.identity, peer, protocol, port }),
    };
  };
  return {
    egress: side(source, 'egress', query.destination),
    ingress: side(destination, 'ingress', query.source),
  };
}

function check(log: EventLog, query: PolicyQuery): PolicyVerdict {
  const nodes = states(log);
  const verdict = evaluatePolicy(nodes.get('node-1')!, query);
  const flat = (enforced: DirectionVerdict, staged: DirectionVerdict) => ({
    verdict: enforced.verdict,
    rule: enforced.rule,
    stagedVerdict: staged.verdict,
    stagedRule: staged.rule,
  });
  expect(compiled(nodes, query)).toEqual({
    egress: flat(verdict.egress, verdict.staged.egress),
    ingress: flat(verdict.ingress, verdict.staged.ingress),
  });
  return verdict;
}

const tcp = (
  source: Endpoint | string,
  destination: Endpoint | string,
  port: number,
): PolicyQuery => ({
  source: typeof source === 'string' ? source : source.ip,
  destination: typeof destination === 'string' ? destination : destination.ip,
  protocol: 'TCP',
  port,
});
const rule = (policyId: string, direction: 'ingress' | 'egress', index = 0) =>
  policyRuleId(policyId, direction, index);
const selector = (labels: Labels) => ({ selector: { matchLabels: labels } });
const ALLOW_0 = { verdict: 'allow', rule: 0 };

describe('evaluatePolicy', () => {
  it('allows what no policy selects (rule 0, not selected)', () => {
    const verdict = check(world([]), tcp(WEB, DB, 5432));
    expect(verdict).toMatchObject({
      verdict: 'allow',
      sourceIdentity: 300,
      destinationIdentity: 301,
      egress: { ...ALLOW_0, reason: 'not-selected', tier: null, policyId: null },
      ingress: { ...ALLOW_0, reason: 'not-selected' },
    });
  });

  it('runs the tiers in order, whatever the priorities: platform before application', () => {
    const log = world([
      {
        policyId: 'plat',
        tier: 'platform',
        priority: 1000,
        selector: { matchLabels: { app: 'db' } },
        ingress: [{ action: 'deny', peers: [selector({ app: 'web' })] }],
      },
      {
        policyId: 'app',
        tier: 'application',
        priority: 1,
        selector: { matchLabels: { app: 'db' } },
        ingress: [{ action: 'allow' }],
      },
    ]);
    expect(check(log, tcp(WEB, DB, 5432)).ingress).toMatchObject({
      verdict: 'deny',
      reason: 'rule',
      rule: rule('plat', 'ingress'),
      tier: 'platform',
      policyId: 'plat',
      policyName: 'plat',
      policyRevision: 0,
      ruleIndex: 0,
      action: 'deny',
    });
    expect(check(log, tcp(OTHER, DB, 5432)).ingress).toMatchObject({
      verdict: 'allow',
      rule: rule('app', 'ingress'),
      tier: 'application',
    });
  });

  it('pass skips the rest of its tier: a later tier decides, the passed tiers are reported', () => {
    const log = world([
      {
        policyId: 'plat-pass',
        tier: 'platform',
        priority: 10,
        selector: {},
        ingress: [{ action: 'pass', peers: [selector({ app: 'web' })] }],
      },
      {
        policyId: 'plat-deny',
        tier: 'platform',
        priority: 20,
        selector: {},
        ingress: [{ action: 'deny' }],
      },
      {
        policyId: 'base-deny',
        tier: 'baseline',
        priority: 10,
        selector: {},
        ingress: [{ action: 'deny', ports: [{ protocol: 'TCP', port: 22 }] }],
      },
    ]);
    // web: passed past plat-deny, nothing in application, baseline allows 5432 by its end.
    expect(check(log, tcp(WEB, DB, 5432)).ingress).toMatchObject({
      ...ALLOW_0,
      reason: 'end-of-tiers',
      passedTiers: ['platform'],
    });
    expect(check(log, tcp(WEB, DB, 22)).ingress).toMatchObject({
      verdict: 'deny',
      rule: rule('base-deny', 'ingress'),
      tier: 'baseline',
      passedTiers: ['platform'],
    });
    // other is not passed: the later platform deny decides.
    expect(check(log, tcp(OTHER, DB, 5432)).ingress).toMatchObject({
      verdict: 'deny',
      rule: rule('plat-deny', 'ingress'),
      passedTiers: [],
    });
  });

  it('deny beats allow beats pass at one priority, across policies', () => {
    const allow = {
      policyId: 'a-allow',
      tier: 'platform' as const,
      priority: 10,
      selector: {},
      ingress: [{ action: 'allow' as const }],
    };
    const deny = {
      policyId: 'z-deny',
      tier: 'platform' as const,
      priority: 10,
      selector: {},
      ingress: [{ action: 'deny' as const, ports: [{ protocol: 'TCP' as const, port: 5432 }] }],
    };
    const pass = {
      policyId: 'a-pass',
      tier: 'platform' as const,
      priority: 10,
      selector: {},
      ingress: [{ action: 'pass' as const }],
    };
    const log = world([allow, deny, pass]);
    expect(check(log, tcp(WEB, DB, 5432)).ingress).toMatchObject({
      verdict: 'deny',
      rule: rule('z-deny', 'ingress'),
    });
    expect(check(log, tcp(WEB, DB, 5433)).ingress).toMatchObject({
      verdict: 'allow',
      rule: rule('a-allow', 'ingress'),
    });
    expect(
      check(world([pass, { ...allow, policyId: 'z-allow' }]), tcp(WEB, DB, 1)).ingress,
    ).toMatchObject({
      verdict: 'allow',
      rule: rule('z-allow', 'ingress'),
    });
  });

  it('a lower priority number decides first within a tier', () => {
    const log = world([
      {
        policyId: 'late-deny',
        tier: 'platform',
        priority: 20,
        selector: {},
        ingress: [{ action: 'deny' }],
      },
      {
        policyId: 'early-allow',
        tier: 'platform',
        priority: 5,
        selector: {},
        ingress: [{ action: 'allow', ports: [{ protocol: 'TCP', port: 5432 }] }],
      },
    ]);
    expect(check(log, tcp(WEB, DB, 5432)).ingress).toMatchObject({
      verdict: 'allow',
      rule: rule('early-allow', 'ingress'),
    });
    expect(check(log, tcp(WEB, DB, 80)).ingress).toMatchObject({
      verdict: 'deny',
      rule: rule('late-deny', 'ingress'),
    });
  });

  it('isolates an endpoint an application policy selects for a direction (rule 1), not the other direction', () => {
    const log = world([
      {
        policyId: 'db-in',
        selector: { matchLabels: { app: 'db' } },
        directions: ['ingress'],
        ingress: [
          {
            action: 'allow',
            peers: [selector({ app: 'web' })],
            ports: [{ protocol: 'TCP', port: 5432 }],
          },
        ],
      },
    ]);
    expect(check(log, tcp(WEB, DB, 5432))).toMatchObject({
      verdict: 'allow',
      ingress: { reason: 'rule', rule: rule('db-in', 'ingress') },
    });
    expect(check(log, tcp(WEB, DB, 80))).toMatchObject({
      verdict: 'deny',
      ingress: { verdict: 'deny', reason: 'isolated', rule: 1, tier: 'application' },
    });
    expect(check(log, tcp(OTHER, DB, 5432)).ingress).toMatchObject({ reason: 'isolated', rule: 1 });
    // Egress of db is not selected by an ingress-only policy.
    expect(check(log, tcp(DB, OTHER, 80))).toMatchObject({
      verdict: 'allow',
      egress: { reason: 'not-selected' },
    });
    // A policy listing a direction without rules isolates in it (Kubernetes default deny).
    const denyAll = world([{ policyId: 'deny-all', selector: {}, directions: ['egress'] }]);
    expect(check(denyAll, tcp(WEB, DB, 80)).egress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
      rule: 1,
    });
    expect(check(denyAll, tcp(WEB, DB, 80)).ingress).toMatchObject({
      verdict: 'allow',
      reason: 'not-selected',
    });
  });

  it('does not isolate in platform or baseline: selected, nothing matched, end of tiers', () => {
    const log = world([
      {
        policyId: 'plat',
        tier: 'platform',
        selector: {},
        ingress: [{ action: 'deny', peers: [selector({ app: 'nobody' })] }],
      },
      {
        policyId: 'base',
        tier: 'baseline',
        selector: {},
        ingress: [{ action: 'deny', ports: [{ protocol: 'UDP', port: 53 }] }],
      },
    ]);
    expect(check(log, tcp(WEB, DB, 80)).ingress).toMatchObject({
      ...ALLOW_0,
      reason: 'end-of-tiers',
    });
  });

  it('reports staged policies without enforcing them, isolation included', () => {
    const log = world([
      {
        policyId: 'stage-deny',
        tier: 'platform',
        selector: { matchLabels: { app: 'db' } },
        ingress: [{ action: 'deny', peers: [selector({ app: 'other' })] }],
        staged: true,
      },
      {
        policyId: 'stage-iso',
        selector: { matchLabels: { app: 'db' } },
        ingress: [{ action: 'allow', ports: [{ protocol: 'TCP', port: 5432 }] }],
        staged: true,
      },
    ]);
    expect(check(log, tcp(OTHER, DB, 5432))).toMatchObject({
      verdict: 'allow',
      ingress: { verdict: 'allow', reason: 'not-selected' },
      staged: {
        verdict: 'deny',
        ingress: { verdict: 'deny', rule: rule('stage-deny', 'ingress'), tier: 'platform' },
      },
    });
    expect(check(log, tcp(WEB, DB, 80))).toMatchObject({
      verdict: 'allow',
      staged: { verdict: 'deny', ingress: { reason: 'isolated', rule: 1 } },
    });
    expect(check(log, tcp(WEB, DB, 5432)).staged).toMatchObject({
      verdict: 'allow',
      ingress: { rule: rule('stage-iso', 'ingress') },
    });
  });

  it('lets one tier allow an external-endpoint group that another tier denies', () => {
    const log = world([
      {
        policyId: 'legacy-ok',
        tier: 'platform',
        selector: { matchLabels: { app: 'web' } },
        egress: [{ action: 'allow', peers: [selector({ group: 'legacy-db' })] }],
      },
      {
        policyId: 'no-external',
        tier: 'application',
        selector: {},
        egress: [
          {
            action: 'deny',
            peers: [{ cidr: '192.0.2.0/24' }, selector({ 'strata.io/kind': 'external' })],
          },
          { action: 'allow' },
        ],
      },
    ]);
    expect(check(log, tcp(WEB, LEGACY_DB, 5432))).toMatchObject({
      verdict: 'allow',
      destinationIdentity: 303,
      egress: { rule: rule('legacy-ok', 'egress'), tier: 'platform' },
    });
    expect(check(log, tcp(OTHER, LEGACY_DB, 5432))).toMatchObject({
      verdict: 'deny',
      egress: { rule: rule('no-external', 'egress'), tier: 'application' },
    });
    expect(check(log, tcp(WEB, PARTNER, 443))).toMatchObject({
      verdict: 'deny',
      egress: { rule: rule('no-external', 'egress') },
    });
    expect(check(log, tcp(WEB, '192.0.2.99', 443))).toMatchObject({
      verdict: 'deny',
      egress: { rule: rule('no-external', 'egress') },
    });
    expect(check(log, tcp(WEB, '8.8.8.8', 443))).toMatchObject({
      verdict: 'allow',
      destinationIdentity: 2,
      egress: { rule: rule('no-external', 'egress', 1) },
    });
  });

  it('matches CIDR peers inside cidr and outside except, never pods by address', () => {
    const log = world([
      {
        policyId: 'out',
        selector: { matchLabels: { app: 'web' } },
        egress: [
          {
            action: 'allow',
            peers: [{ cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] }, { cidr: '10.0.0.0/8' }],
          },
        ],
      },
    ]);
    expect(check(log, tcp(WEB, '192.0.2.5', 80)).egress).toMatchObject({
      verdict: 'allow',
      rule: rule('out', 'egress'),
    });
    expect(check(log, tcp(WEB, '192.0.2.200', 80)).egress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
    });
    expect(check(log, tcp(WEB, LEGACY_DB, 80)).egress).toMatchObject({ verdict: 'allow' });
    // A pod inside 10.0.0.0/8 is chosen by labels only.
    expect(check(log, tcp(WEB, DB, 80)).egress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
    });
    expect(check(log, tcp(WEB, '10.200.0.1', 80)).egress).toMatchObject({ verdict: 'allow' });
    const verdict = check(log, tcp('192.0.2.200', WEB, 80));
    expect(verdict.sourceIdentity).toBeGreaterThanOrEqual(0x10000);
  });

  it('resolves named ports on the receiver: the selected endpoint for ingress, the peer for egress', () => {
    const log = world([
      {
        policyId: 'pg-in',
        selector: { matchLabels: { app: 'db' } },
        directions: ['ingress'],
        ingress: [{ action: 'allow', ports: [{ protocol: 'TCP', name: 'pg' }] }],
      },
      {
        policyId: 'pg-out',
        selector: { matchLabels: { app: 'web' } },
        directions: ['egress'],
        egress: [
          {
            action: 'allow',
            ports: [
              { protocol: 'TCP', name: 'pg' },
              { protocol: 'TCP', name: 'nope' },
            ],
          },
        ],
      },
    ]);
    expect(check(log, tcp(WEB, DB, 5432))).toMatchObject({
      verdict: 'allow',
      egress: { rule: rule('pg-out', 'egress') },
      ingress: { rule: rule('pg-in', 'ingress') },
    });
    expect(check(log, tcp(WEB, DB, 8080))).toMatchObject({
      verdict: 'deny',
      egress: { reason: 'isolated' },
      ingress: { reason: 'isolated' },
    });
    // 'pg' names nothing on other, so web may not reach it on 5432; UDP 5432 is not 'pg'.
    expect(check(log, tcp(WEB, OTHER, 5432)).egress).toMatchObject({ reason: 'isolated' });
    expect(check(log, { ...tcp(WEB, DB, 5432), protocol: 'UDP' }).egress).toMatchObject({
      reason: 'isolated',
    });
  });

  it('adds up Kubernetes-style allow policies in the application tier', () => {
    const log = world([
      {
        policyId: 'k8s-prod-db-web',
        selector: { matchLabels: { app: 'db' } },
        priority: 1000,
        directions: ['ingress'],
        ingress: [
          {
            action: 'allow',
            peers: [selector({ app: 'web' })],
            ports: [{ protocol: 'TCP', port: 5432 }],
          },
        ],
      },
      {
        policyId: 'k8s-prod-db-dev',
        selector: { matchLabels: { app: 'db' } },
        priority: 1000,
        directions: ['ingress'],
        ingress: [
          {
            action: 'allow',
            peers: [
              {
                selector: {
                  matchLabels: {},
                  matchExpressions: [
                    { key: 'strata.io/namespace', operator: 'In', values: ['dev'] },
                  ],
                },
              },
            ],
            ports: [{ protocol: 'TCP', port: 80, endPort: 90 }],
          },
        ],
      },
    ]);
    expect(check(log, tcp(WEB, DB, 5432)).ingress).toMatchObject({
      verdict: 'allow',
      rule: rule('k8s-prod-db-web', 'ingress'),
    });
    expect(check(log, tcp(OTHER, DB, 85)).ingress).toMatchObject({
      verdict: 'allow',
      rule: rule('k8s-prod-db-dev', 'ingress'),
    });
    expect(check(log, tcp(WEB, DB, 85)).ingress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
    });
    expect(check(log, tcp(OTHER, DB, 5432)).ingress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
    });
    expect(check(log, { ...tcp(OTHER, DB, 0), protocol: 'ICMP' }).ingress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
    });
  });

  it('reports the revision of the policy that decided', () => {
    const log = world(
      [{ policyId: 'rev', tier: 'platform', selector: {}, ingress: [{ action: 'deny' }] }],
      [{ policyId: 'rev', ingress: [{ action: 'allow' }] }],
    );
    expect(check(log, tcp(WEB, DB, 1)).ingress).toMatchObject({
      verdict: 'allow',
      policyRevision: 1,
      action: 'allow',
    });
  });

  it.each([
    ['a malformed source', { ...tcp(WEB, DB, 80), source: '10.0.0' }, 'InvalidIp'],
    ['a malformed destination', { ...tcp(WEB, DB, 80), destination: 7 }, 'InvalidIp'],
    ['a port out of range', tcp(WEB, DB, 70_000), 'InvalidPort'],
    ['an unknown protocol', { ...tcp(WEB, DB, 80), protocol: 'GRE' }, 'InvalidArgument'],
  ])('rejects %s with a DomainError', (_what, query, code) => {
    const state = applyEvents(createForwardingState('node-1'), world([]).events);
    expect(() => evaluatePolicy(state, query as PolicyQuery)).toThrow(DomainError);
    expect(() => evaluatePolicy(state, query as PolicyQuery)).toThrow(
      expect.objectContaining({ code }),
    );
  });
});
