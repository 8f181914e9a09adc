import { policyRuleId } from '@strata/domain';
import type { PolicyView } from '@strata/bus';
import {
  peerText,
  policyRequests,
  portText,
  readSource,
  selectorText,
  showPolicy,
  sumCounters,
} from './policy.command';

const c = (packets: number) => ({ packets, bytes: packets * 10 });
const zero = c(0);

describe('policy command', () => {
  it('sums counters per rule over nodes, and tells answering from silent nodes', () => {
    const rule = (id: number, allowed: number, wouldDeny: number) => ({
      rule: id,
      allowed: c(allowed),
      denied: zero,
      stagedWouldDeny: c(wouldDeny),
      stagedWouldAllow: zero,
    });
    const summed = sumCounters([
      { node: 'n1', answered: true, rules: [rule(20, 1, 0), rule(21, 2, 5)] },
      { node: 'n2', answered: true, rules: [rule(21, 3, 1)] },
      { node: 'n3', answered: true, rules: undefined },
      { node: 'n4', answered: false, rules: undefined },
    ]);
    expect(summed.byRule.get(20)).toEqual({
      allowed: c(1),
      denied: zero,
      stagedWouldDeny: zero,
      stagedWouldAllow: zero,
    });
    expect(summed.byRule.get(21)).toEqual({
      allowed: c(5),
      denied: zero,
      stagedWouldDeny: c(6),
      stagedWouldAllow: zero,
    });
    expect(summed.answered).toEqual(['n1', 'n2', 'n3']);
    expect(summed.notAnswering).toEqual(['n4']);
  });

  it('lists rules with the ids docs/policy.md computes, ingress first, in rule order', () => {
    const view = {
      policyId: 'p',
      revision: 0,
      name: 'p',
      tier: 'application',
      priority: 1,
      selector: { matchLabels: {}, matchExpressions: [] },
      directions: ['ingress', 'egress'],
      ingress: [{ action: 'allow', peers: [], ports: [] }],
      egress: [
        { action: 'deny', peers: [], ports: [] },
        { action: 'allow', peers: [], ports: [] },
      ],
      staged: false,
      source: { kind: 'strata', namespace: '', name: '' },
    } as PolicyView;
    const shown = showPolicy(view, sumCounters([]));
    expect(shown.rules.map((r) => [r.ruleId, r.direction, r.index, r.action])).toEqual([
      [policyRuleId('p', 'ingress', 0), 'ingress', 0, 'allow'],
      [policyRuleId('p', 'egress', 0), 'egress', 0, 'deny'],
      [policyRuleId('p', 'egress', 1), 'egress', 1, 'allow'],
    ]);
  });

  it.each([
    [{ matchLabels: {}, matchExpressions: [] }, '(everything)'],
    [
      {
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'c', operator: 'In', values: ['d', 'e'] },
          { key: 'f', operator: 'NotIn', values: ['g'] },
          { key: 'h', operator: 'Exists', values: [] },
          { key: 'i', operator: 'DoesNotExist', values: [] },
        ],
      },
      'a=b, c in (d,e), f notin (g), h, !i',
    ],
  ] as const)('writes selectors as Kubernetes does: %j', (selector, text) => {
    expect(selectorText(selector)).toBe(text);
  });

  it('writes peers and ports', () => {
    expect(peerText({ cidr: '10.0.0.0/8', except: [] })).toBe('10.0.0.0/8');
    expect(peerText({ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] })).toBe(
      '10.0.0.0/8 except 10.1.0.0/16',
    );
    expect(portText({ protocol: 'TCP', port: 80, endPort: 80 })).toBe('TCP/80');
    expect(portText({ protocol: 'UDP', port: 80, endPort: 90 })).toBe('UDP/80-90');
    expect(portText({ protocol: 'SCTP', name: 'diameter' })).toBe('SCTP/diameter');
  });

  it('reads NetworkPolicies, Lists and Strata policies from YAML and JSON', () => {
    const requests = policyRequests(
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: a}
  spec: {podSelector: {}}
---
{"policyId": "b", "name": "b", "tier": "baseline", "priority": 0, "selector": {}, "directions": ["egress"]}
---
`,
      'f.yaml',
    );
    expect(requests.map((r) => [r.policyId, r.tier])).toEqual([
      ['k8s-default-a', 'application'],
      ['b', 'baseline'],
    ]);
  });

  it("reads '-' from standard input to its end", async () => {
    const { Readable } = await import('node:stream');
    const stdin = Readable.from([Buffer.from('kind: '), Buffer.from('List\n')]);
    expect(await readSource('-', stdin)).toBe('kind: List\n');
  });

  it('names the file and the document of a bad one', () => {
    expect(() => policyRequests('kind: List\nitems: 3\n', 'f.yaml')).toThrow(
      /^f.yaml, document 1: a List needs an items list/,
    );
    expect(() =>
      policyRequests(
        '{"policyId": "b", "name": "b", "tier": "gold", "priority": 0, "selector": {}}',
        'f.json',
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'InvalidRequest',
        message: expect.stringMatching(/^f.json, document 1: /),
      }),
    );
  });
});
