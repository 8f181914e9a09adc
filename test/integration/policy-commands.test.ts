import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { POLICY, type CreatePolicyRequest } from '@strata/bus';
import { startPolicyService } from '../../services/policy/src/policy-service';
import { startServiceHarness, type ServiceHarness } from '../support/service-harness';

// The policy service over a real nats-server (connected as its own identity) and a real SQLite
// file: every command and every error path; each bad request gets a typed error and a good
// request right after it still succeeds.

let h: ServiceHarness;

beforeAll(async () => {
  h = await startServiceHarness('policy', startPolicyService);
}, 30_000);

afterAll(async () => {
  await h?.close();
});

const webFromLb: CreatePolicyRequest = {
  policyId: 'web-from-lb',
  name: 'web-from-lb',
  tier: 'application',
  priority: 100,
  selector: { matchLabels: { tier: 'web' } },
  ingress: [
    {
      action: 'allow',
      peers: [{ selector: { matchLabels: { tier: 'lb' } } }],
      ports: [
        { protocol: 'TCP', port: 8443 },
        { protocol: 'TCP', port: 8000, endPort: 8080 },
      ],
    },
  ],
};
const strata = { kind: 'strata', namespace: '', name: '' } as const;
const webFromLbView = {
  policyId: 'web-from-lb',
  revision: 0,
  name: 'web-from-lb',
  tier: 'application',
  priority: 100,
  selector: { matchLabels: { tier: 'web' }, matchExpressions: [] },
  directions: ['ingress'],
  ingress: [
    {
      action: 'allow',
      peers: [{ selector: { matchLabels: { tier: 'lb' }, matchExpressions: [] } }],
      ports: [
        { protocol: 'TCP', port: 8000, endPort: 8080 },
        { protocol: 'TCP', port: 8443, endPort: 8443 },
      ],
    },
  ],
  egress: [],
  staged: false,
  source: strata,
};

describe('policies', () => {
  it('creates a policy in canonical form, idempotently, and gets and lists it', async () => {
    const created = await h.ok(POLICY.createPolicy, webFromLb);
    expect(created).toEqual(webFromLbView);
    expect(await h.ok(POLICY.createPolicy, webFromLb)).toEqual(created);
    expect(await h.ok(POLICY.getPolicy, { policyId: 'web-from-lb' })).toEqual(created);
    expect(await h.code(POLICY.createPolicy, { ...webFromLb, priority: 7 })).toBe('AlreadyExists');
  });

  it('answers a retried command id with the same result', async () => {
    const commandId = randomUUID();
    const request = { ...webFromLb, policyId: 'retried', name: 'retried' };
    const first = await h.ok(POLICY.createPolicy, request, commandId);
    expect(await h.ok(POLICY.createPolicy, request, commandId)).toEqual(first);
  });

  it('lists in evaluation order (tier, priority, id), optionally one tier', async () => {
    const deny = { selector: {}, egress: [{ action: 'deny' as const }] };
    await h.ok(POLICY.createPolicy, {
      ...deny,
      policyId: 'default-deny',
      name: 'default-deny',
      tier: 'baseline',
      priority: 0,
    });
    await h.ok(POLICY.createPolicy, {
      policyId: 'no-metadata',
      name: 'no-metadata',
      tier: 'platform',
      priority: 10,
      selector: {},
      egress: [
        {
          action: 'deny',
          peers: [{ cidr: '169.254.169.254/32' }],
          ports: [{ protocol: 'TCP', port: 80 }],
        },
      ],
      staged: true,
    });
    const { policies } = await h.ok(POLICY.listPolicies, {});
    expect(policies.map((p) => p.policyId)).toEqual([
      'no-metadata',
      'retried',
      'web-from-lb',
      'default-deny',
    ]);
    const baseline = await h.ok(POLICY.listPolicies, { tier: 'baseline' });
    expect(baseline.policies.map((p) => p.policyId)).toEqual(['default-deny']);
  });

  it('applies: creates, leaves an equal spec alone, replaces, re-creates a deleted id', async () => {
    const request = {
      policyId: 'applied',
      name: 'applied',
      tier: 'application' as const,
      priority: 1000,
      selector: { matchExpressions: [{ key: 'app', operator: 'In' as const, values: ['b', 'a'] }] },
      directions: ['ingress' as const, 'egress' as const],
      source: { kind: 'kubernetes' as const, namespace: 'x', name: 'applied' },
    };
    const created = await h.ok(POLICY.applyPolicy, request);
    expect(created).toMatchObject({
      outcome: 'created',
      revision: 0,
      directions: ['ingress', 'egress'],
      selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] },
    });
    expect(await h.ok(POLICY.applyPolicy, request)).toEqual({ ...created, outcome: 'unchanged' });
    const replaced = await h.ok(POLICY.applyPolicy, { ...request, directions: ['ingress'] });
    expect(replaced).toMatchObject({ outcome: 'updated', revision: 1, directions: ['ingress'] });
    expect(
      await h.code(POLICY.applyPolicy, {
        ...request,
        source: { kind: 'kubernetes', namespace: 'y', name: 'applied' },
      }),
    ).toBe('AlreadyExists');
    await h.ok(POLICY.deletePolicy, { policyId: 'applied' });
    expect(await h.ok(POLICY.applyPolicy, request)).toMatchObject({
      outcome: 'created',
      revision: 3,
    });
  });

  it('updates the fields given, validating the result as a whole', async () => {
    const updated = await h.ok(POLICY.updatePolicy, {
      policyId: 'web-from-lb',
      ingress: [{ action: 'pass' }],
      staged: true,
    });
    expect(updated).toMatchObject({
      ingress: [{ action: 'pass', peers: [], ports: [] }],
      staged: true,
      priority: 100,
      revision: 1,
    });
    expect(await h.ok(POLICY.updatePolicy, { policyId: 'web-from-lb' })).toEqual(updated);
    expect(await h.code(POLICY.updatePolicy, { policyId: 'web-from-lb', tier: 'baseline' })).toBe(
      'InvalidArgument',
    );
    expect(await h.code(POLICY.updatePolicy, { policyId: 'nope', priority: 1 })).toBe('NotFound');
  });

  it('deletes idempotently; the id is gone and create does not reuse it', async () => {
    const request = { ...webFromLb, policyId: 'temp', name: 'temp' };
    await h.ok(POLICY.createPolicy, request);
    expect(await h.ok(POLICY.deletePolicy, { policyId: 'temp' })).toEqual({ policyId: 'temp' });
    expect(await h.ok(POLICY.deletePolicy, { policyId: 'temp' })).toEqual({ policyId: 'temp' });
    expect(await h.code(POLICY.getPolicy, { policyId: 'temp' })).toBe('NotFound');
    expect(await h.code(POLICY.createPolicy, request)).toBe('AlreadyExists');
    expect(await h.code(POLICY.deletePolicy, { policyId: 'never' })).toBe('NotFound');
    const { policies } = await h.ok(POLICY.listPolicies, {});
    expect(policies.map((p) => p.policyId)).not.toContain('temp');
  });

  it('reads a schema-v1 policy from the log as v2, and skips a malformed event', async () => {
    await h.store.append(
      'policy-legacy',
      [
        {
          id: randomUUID(),
          type: 'PolicyCreated',
          data: {
            policyId: 'legacy',
            name: 'legacy',
            tier: 'platform',
            priority: 3,
            action: 'deny',
            direction: 'egress',
            selector: { matchLabels: { tier: 'web' } },
            peers: [{ matchLabels: { tier: 'db' } }],
            ports: [{ protocol: 'TCP', port: 5432, endPort: 5432 }],
            staged: false,
          },
        },
      ],
      'no-stream',
    );
    await h.store.append(
      'policy-broken',
      [{ id: randomUUID(), type: 'PolicyCreated', data: { policyId: 'broken', name: 'x' } }],
      'no-stream',
    );
    expect(await h.ok(POLICY.getPolicy, { policyId: 'legacy' })).toMatchObject({
      directions: ['egress'],
      ingress: [],
      egress: [
        {
          action: 'deny',
          peers: [{ selector: { matchLabels: { tier: 'db' }, matchExpressions: [] } }],
          ports: [{ protocol: 'TCP', port: 5432, endPort: 5432 }],
        },
      ],
      source: strata,
    });
    expect(await h.code(POLICY.getPolicy, { policyId: 'broken' })).toBe('NotFound');
    expect(await h.ok(POLICY.updatePolicy, { policyId: 'legacy', priority: 4 })).toMatchObject({
      priority: 4,
      revision: 1,
      directions: ['egress'],
    });
  });

  const rule = (r: object) => ({ ingress: [{ action: 'allow', ...r }] });
  it.each([
    ['an id with a dot', { policyId: 'a.b' }, 'InvalidId'],
    ['an uppercase name', { name: 'Web' }, 'InvalidName'],
    ['an unknown tier', { tier: 'gold' }, 'InvalidRequest'],
    ['an unknown action', { ingress: [{ action: 'drop' }] }, 'InvalidRequest'],
    ['an unknown direction', { directions: ['both'] }, 'InvalidRequest'],
    ['no direction', { ingress: [], directions: [] }, 'InvalidArgument'],
    ['a priority out of range', { priority: 70_000 }, 'InvalidArgument'],
    ['a fractional priority', { priority: 1.5 }, 'InvalidRequest'],
    ['pass in baseline', { tier: 'baseline', ingress: [{ action: 'pass' }] }, 'InvalidArgument'],
    ['a bad label key', { selector: { matchLabels: { 'a b': 'x' } } }, 'InvalidLabels'],
    ['a non-string label value', { selector: { matchLabels: { a: 1 } } }, 'InvalidLabels'],
    ['a selector field unknown', { selector: { matchLabels: {}, expr: [] } }, 'UnknownField'],
    [
      'an unknown operator',
      { selector: { matchExpressions: [{ key: 'a', operator: 'Gt' }] } },
      'InvalidRequest',
    ],
    [
      'NotIn without values',
      { selector: { matchExpressions: [{ key: 'a', operator: 'NotIn' }] } },
      'InvalidLabels',
    ],
    ['a bad CIDR', rule({ peers: [{ cidr: '10.0.0.1/8' }] }), 'InvalidCidr'],
    [
      'an except outside its CIDR',
      rule({ peers: [{ cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] }] }),
      'InvalidCidr',
    ],
    ['a peer with both', rule({ peers: [{ selector: {}, cidr: '10.0.0.0/8' }] }), 'UnknownField'],
    ['port 0', rule({ ports: [{ protocol: 'TCP', port: 0 }] }), 'InvalidPort'],
    ['port 65536', rule({ ports: [{ protocol: 'UDP', port: 65_536 }] }), 'InvalidPort'],
    [
      'an inverted range',
      rule({ ports: [{ protocol: 'TCP', port: 9, endPort: 8 }] }),
      'InvalidPort',
    ],
    ['a bad port name', rule({ ports: [{ protocol: 'TCP', name: 'a_b' }] }), 'InvalidPort'],
    ['ICMP', rule({ ports: [{ protocol: 'ICMP', port: 1 }] }), 'InvalidRequest'],
    ['a string staged', { staged: 'yes' }, 'InvalidRequest'],
    ['an unknown field', { mode: 'strict' }, 'UnknownField'],
    ['a v1 field', { action: 'allow' }, 'UnknownField'],
    ['a missing selector', { selector: undefined }, 'InvalidRequest'],
  ])('rejects %s, then still serves', async (_case, change, expected) => {
    const request = { ...webFromLb, policyId: 'bad', name: 'bad', ...change };
    expect(await h.code(POLICY.createPolicy, request)).toBe(expected);
    expect(await h.code(POLICY.applyPolicy, request)).toBe(expected);
    expect(await h.ok(POLICY.getPolicy, { policyId: 'web-from-lb' })).toMatchObject({
      priority: 100,
    });
  });

  it('answers malformed payloads with typed errors and keeps serving', async () => {
    const subject = POLICY.getPolicy.subject;
    expect(await h.rawCode(subject, 'not json')).toBe('MalformedPayload');
    expect(await h.rawCode(subject, '')).toBe('MalformedPayload');
    expect(await h.rawCode(subject, '[1,2]')).toBe('MalformedPayload');
    expect(await h.rawCode(subject, JSON.stringify({ data: { policyId: 'x' } }))).toBe(
      'InvalidRequest',
    );
    expect(
      await h.rawCode(subject, JSON.stringify({ commandId: 'c', data: { policyId: 'x' }, x: 1 })),
    ).toBe('UnknownField');
    expect(await h.rawCode(subject, JSON.stringify({ commandId: 'c', data: null }))).toBe(
      'InvalidRequest',
    );
    expect(await h.code(POLICY.listPolicies, { tier: 'platform', x: 1 })).toBe('UnknownField');
    expect(await h.ok(POLICY.getPolicy, { policyId: 'web-from-lb' })).toMatchObject({
      policyId: 'web-from-lb',
    });
  });
});
