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
  action: 'allow',
  direction: 'ingress',
  selector: { matchLabels: { tier: 'web' } },
  peers: [{ matchLabels: { tier: 'lb' } }],
  ports: [
    { protocol: 'TCP', port: 8443 },
    { protocol: 'TCP', port: 8000, endPort: 8080 },
  ],
};

describe('policies', () => {
  it('creates a policy in canonical form, idempotently, and gets and lists it', async () => {
    const created = await h.ok(POLICY.createPolicy, webFromLb);
    expect(created).toEqual({
      ...webFromLb,
      ports: [
        { protocol: 'TCP', port: 8000, endPort: 8080 },
        { protocol: 'TCP', port: 8443, endPort: 8443 },
      ],
      staged: false,
    });
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
    const base = { action: 'deny', direction: 'egress', selector: { matchLabels: {} } } as const;
    await h.ok(POLICY.createPolicy, {
      ...base,
      policyId: 'default-deny',
      name: 'default-deny',
      tier: 'baseline',
      priority: 0,
    });
    await h.ok(POLICY.createPolicy, {
      ...base,
      policyId: 'no-metadata',
      name: 'no-metadata',
      tier: 'platform',
      priority: 10,
      peers: [{ matchLabels: { role: 'metadata' } }],
      ports: [{ protocol: 'SCTP', port: 80 }],
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

  it('updates the fields given, validating the result as a whole', async () => {
    const updated = await h.ok(POLICY.updatePolicy, {
      policyId: 'web-from-lb',
      action: 'pass',
      staged: true,
      ports: [],
    });
    expect(updated).toMatchObject({ action: 'pass', staged: true, ports: [], priority: 100 });
    expect(await h.ok(POLICY.updatePolicy, { policyId: 'web-from-lb' })).toEqual(updated);
    expect(await h.code(POLICY.updatePolicy, { policyId: 'web-from-lb', tier: 'baseline' })).toBe(
      'InvalidArgument',
    );
    expect(await h.code(POLICY.updatePolicy, { policyId: 'nope', priority: 1 })).toBe('NotFound');
  });

  it('deletes idempotently; the id is gone and not reused', async () => {
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

  it.each([
    ['an id with a dot', { policyId: 'a.b' }, 'InvalidId'],
    ['an uppercase name', { name: 'Web' }, 'InvalidName'],
    ['an unknown tier', { tier: 'gold' }, 'InvalidRequest'],
    ['an unknown action', { action: 'drop' }, 'InvalidRequest'],
    ['an unknown direction', { direction: 'both' }, 'InvalidRequest'],
    ['a priority out of range', { priority: 70_000 }, 'InvalidArgument'],
    ['a fractional priority', { priority: 1.5 }, 'InvalidRequest'],
    ['pass in baseline', { tier: 'baseline', action: 'pass' }, 'InvalidArgument'],
    ['a bad label key', { selector: { matchLabels: { 'a b': 'x' } } }, 'InvalidLabels'],
    ['a non-string label value', { selector: { matchLabels: { a: 1 } } }, 'InvalidLabels'],
    ['a selector field unknown', { selector: { matchLabels: {}, expr: [] } }, 'UnknownField'],
    ['port 0', { ports: [{ protocol: 'TCP', port: 0 }] }, 'InvalidPort'],
    ['port 65536', { ports: [{ protocol: 'UDP', port: 65_536 }] }, 'InvalidPort'],
    ['an inverted range', { ports: [{ protocol: 'TCP', port: 9, endPort: 8 }] }, 'InvalidPort'],
    ['ICMP', { ports: [{ protocol: 'ICMP', port: 1 }] }, 'InvalidRequest'],
    ['a string staged', { staged: 'yes' }, 'InvalidRequest'],
    ['an unknown field', { mode: 'strict' }, 'UnknownField'],
    ['a missing selector', { selector: undefined }, 'InvalidRequest'],
  ])('rejects %s, then still serves', async (_case, change, expected) => {
    const request = { ...webFromLb, policyId: 'bad', name: 'bad', ...change };
    expect(await h.code(POLICY.createPolicy, request)).toBe(expected);
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
