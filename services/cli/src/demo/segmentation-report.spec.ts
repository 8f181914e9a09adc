import type { AgentPolicyRuleCounters } from '@strata/bus';
import {
  counterFailures,
  expectedCounts,
  probeFailures,
  PROBES,
  probeTable,
  RULE_ISOLATION,
  ruleCountersTable,
  TIERS,
  verdictOf,
  type ScenePod,
} from './segmentation-report';
import type { ConnectOutcome } from './traffic';

const pods = new Map<string, ScenePod>(
  Object.keys(TIERS).map((name, i) => [
    name,
    { name, node: name.slice(0, 2), ip: `10.244.0.${i + 2}` },
  ]),
);
const ALLOW = 3_170_604_188;
const STAGED = 1_870_627_604;
const answered = (reply: string): ConnectOutcome => ({ outcome: 'answered', reply, ms: 3 });
const silence: ConnectOutcome = { outcome: 'timeout', ms: 1_500 };
/** What every probe sees when the policy does what it says. */
const asExpected = PROBES.map((probe) =>
  probe.expect === 'allowed' ? answered(probe.to) : silence,
);

const count = (packets: number) => ({ packets, bytes: packets * 60 });
const row = (
  rule: number,
  counts: Partial<Record<'allowed' | 'denied' | 'stagedWouldDeny' | 'stagedWouldAllow', number>>,
): AgentPolicyRuleCounters => ({
  rule,
  policyId: rule === ALLOW ? 'k8s-shop-db-from-api' : rule === STAGED ? 'freeze-db' : null,
  tier: rule === ALLOW ? 'application' : rule === STAGED ? 'platform' : null,
  direction: rule === ALLOW || rule === STAGED ? 'ingress' : null,
  index: rule === ALLOW || rule === STAGED ? 0 : null,
  allowed: count(counts.allowed ?? 0),
  denied: count(counts.denied ?? 0),
  stagedWouldDeny: count(counts.stagedWouldDeny ?? 0),
  stagedWouldAllow: count(counts.stagedWouldAllow ?? 0),
});

describe('the demo micro-segmentation scene', () => {
  it('reads a connect as allowed only when the pod aimed at answered; silence as denied', () => {
    expect(verdictOf(answered('n2p1'), 'n2p1')).toBe('allowed');
    expect(verdictOf(answered('n3p2'), 'n2p1')).toBe('error');
    expect(verdictOf(silence, 'n2p1')).toBe('denied');
    expect(verdictOf({ outcome: 'error', error: 'ECONNREFUSED' }, 'n2p1')).toBe('error');
  });

  it('probes web->db and api->db on another port (denied) and api->db (allowed) across nodes', () => {
    const denied = PROBES.filter((p) => p.expect === 'denied').map(
      (p) =>
        `${TIERS[p.from]}->${TIERS[p.to]}:${p.port}:${pods.get(p.from)?.node}->${pods.get(p.to)?.node}`,
    );
    expect(denied).toEqual(['web->db:5432:n1->n2', 'web->db:5432:n2->n3', 'api->db:8080:n3->n2']);
    const allowed = PROBES.filter((p) => p.expect === 'allowed').map(
      (p) => `${TIERS[p.from]}->${TIERS[p.to]}:${p.port}`,
    );
    expect(allowed).toEqual(['api->db:5432', 'api->db:5432', 'web->api:8080']);
  });

  it('names every probe whose verdict is not the round expects', () => {
    const enforced = {
      title: 'WITH POLICY',
      outcomes: asExpected,
      expect: (p: { expect: 'allowed' | 'denied' }) => p.expect,
    };
    expect(probeFailures(PROBES, enforced)).toEqual([]);
    // A policy that let web through and blocked api.
    const wrong = [answered('n2p1'), ...asExpected.slice(1, 2), silence, ...asExpected.slice(3)];
    expect(probeFailures(PROBES, { ...enforced, outcomes: wrong })).toEqual([
      'WITH POLICY: n1p1 (web) -> n2p1 (db):5432 allowed (connected, 3.0 ms), expected denied',
      'WITH POLICY: n1p2 (api) -> n2p1 (db):5432 denied (no answer in 1500 ms), expected allowed',
    ]);
    // Without the policy every probe must connect.
    const open = {
      title: 'WITHOUT POLICY',
      outcomes: asExpected,
      expect: () => 'allowed' as const,
    };
    expect(probeFailures(PROBES, open)).toHaveLength(3);
  });

  it('marks an unexpected outcome in the probe table', () => {
    const table = probeTable(pods, PROBES.slice(0, 1), [
      { title: 'WITH POLICY', outcomes: [answered('n2p1')], expect: () => 'denied' },
    ]);
    expect(table.split('\n')).toEqual([
      'FROM        TO                         PATH      WITH POLICY                   POLICY SAYS',
      'n1p1 (web)  n2p1 (db) 10.244.0.4:5432  n1 -> n2  connected, 3.0 ms UNEXPECTED  denied (web is not api)',
    ]);
  });

  it('expects, per node of a db pod, the allowed, isolated and would-deny flows of the probes', () => {
    const expected = expectedCounts(pods, [{ staged: false }, { staged: true }], {
      allow: ALLOW,
      staged: STAGED,
    });
    expect(Object.fromEntries(expected)).toEqual({
      [`n2/${RULE_ISOLATION}/denied`]: 4,
      [`n2/${ALLOW}/allowed`]: 2,
      [`n2/${STAGED}/stagedWouldDeny`]: 1,
      [`n3/${RULE_ISOLATION}/denied`]: 2,
      [`n3/${ALLOW}/allowed`]: 2,
      [`n3/${STAGED}/stagedWouldDeny`]: 1,
    });
  });

  it('fails counters that fall short, a staged rule that denied, and a silent agent', () => {
    const expected = expectedCounts(pods, [{ staged: false }, { staged: true }], {
      allow: ALLOW,
      staged: STAGED,
    });
    const good = [
      { node: 'n1', rules: [] },
      {
        node: 'n2',
        rules: [
          row(RULE_ISOLATION, { denied: 5 }),
          row(STAGED, { stagedWouldDeny: 1 }),
          row(ALLOW, { allowed: 2 }),
        ],
      },
      {
        node: 'n3',
        rules: [
          row(RULE_ISOLATION, { denied: 2 }),
          row(STAGED, { stagedWouldDeny: 1 }),
          row(ALLOW, { allowed: 2 }),
        ],
      },
    ];
    expect(counterFailures(good, expected, STAGED)).toEqual([]);
    const bad = [
      { node: 'n1', rules: undefined },
      {
        node: 'n2',
        rules: [
          row(RULE_ISOLATION, { denied: 4 }),
          row(STAGED, { denied: 1 }),
          row(ALLOW, { allowed: 2 }),
        ],
      },
      good[2],
    ];
    expect(counterFailures(bad, expected, STAGED)).toEqual([
      "n1's agent reported no policy counters",
      'the staged rule denied 1 packets on n2',
      `rule ${STAGED} on n2: stagedWouldDeny 0 packets, expected at least 1`,
    ]);
  });

  it('prints each rule that counted, with its policy, tier and action, per node', () => {
    const table = ruleCountersTable(
      [
        {
          node: 'n2',
          rules: [row(RULE_ISOLATION, { denied: 4 }), row(ALLOW, { allowed: 2 }), row(STAGED, {})],
        },
      ],
      (rule) => (rule === ALLOW ? { policy: 'k8s-shop-db-from-api', action: 'allow' } : undefined),
    );
    expect(table.split('\n')).toEqual([
      'NODE  RULE        POLICY                                  TIER         RULE OF     ACTION  ALLOWED  DENIED  WOULD DENY  WOULD ALLOW',
      'n2    1           (isolation: selected, no rule matched)  application  -           deny    0        4       0           0',
      'n2    3170604188  k8s-shop-db-from-api                    application  ingress #0  allow   2        0       0           0',
    ]);
  });
});
