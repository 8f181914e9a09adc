import type { AgentPolicyRuleCounters } from '@strata/bus';
import { renderTable } from '../output/table';
import type { ConnectOutcome } from './traffic';

/**
 * The micro-segmentation scene of the lab demo, pure: which tier each pod gets, the two
 * policies (a Kubernetes NetworkPolicy and a staged Strata platform policy), the probes and
 * the verdicts they must get, the per-rule counters they must leave, and the tables printed.
 */

export const SHOP = 'shop';
export const DB_PORT = 5432;
export const OTHER_PORT = 8080;
/**
 * An allowed connect in the lab answers within a few hundred ms even on a busy machine (most of
 * it Node starting); a dropped SYN gets silence.
 */
export const CONNECT_TIMEOUT_MS = 1_500;

export type Tier = 'web' | 'api' | 'db';
export type Verdict = 'allowed' | 'denied';

/** Every tier on two nodes, two tiers on every node. */
export const TIERS: Readonly<Record<string, Tier>> = {
  n1p1: 'web',
  n1p2: 'api',
  n2p1: 'db',
  n2p2: 'web',
  n3p1: 'api',
  n3p2: 'db',
};

export interface ProbeSpec {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  /** Under the NetworkPolicy (and still with the staged deny: it enforces nothing). */
  readonly expect: Verdict;
  readonly why: string;
}

export const PROBES: readonly ProbeSpec[] = [
  { from: 'n1p1', to: 'n2p1', port: DB_PORT, expect: 'denied', why: 'web is not api' },
  { from: 'n2p2', to: 'n3p2', port: DB_PORT, expect: 'denied', why: 'web is not api' },
  { from: 'n1p2', to: 'n2p1', port: DB_PORT, expect: 'allowed', why: `api on TCP/${DB_PORT}` },
  { from: 'n3p1', to: 'n3p2', port: DB_PORT, expect: 'allowed', why: `api on TCP/${DB_PORT}` },
  {
    from: 'n3p1',
    to: 'n2p1',
    port: OTHER_PORT,
    expect: 'denied',
    why: `only TCP/${DB_PORT} is open`,
  },
  {
    from: 'n1p1',
    to: 'n3p1',
    port: OTHER_PORT,
    expect: 'allowed',
    why: 'no policy selects api',
  },
];

/** Every pod a probe aims at listens on both ports, so a denial is the policy's, not a RST. */
export const SERVER_PORTS: readonly number[] = [DB_PORT, OTHER_PORT];

export const NETWORK_POLICY_FILE = 'db-from-api.yaml';
export const NETWORK_POLICY_YAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-from-api
  namespace: ${SHOP}
spec:
  podSelector:
    matchLabels:
      tier: db
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              tier: api
      ports:
        - protocol: TCP
          port: ${DB_PORT}
`;

export const STAGED_POLICY_FILE = 'freeze-db.yaml';
export const STAGED_POLICY_ID = 'freeze-db';
export const STAGED_POLICY_YAML = `policyId: ${STAGED_POLICY_ID}
name: ${STAGED_POLICY_ID}
tier: platform
priority: 100
selector:
  matchLabels:
    tier: db
    strata.io/namespace: ${SHOP}
directions: [ingress]
ingress:
  - action: deny
`;

export interface ScenePod {
  readonly name: string;
  readonly node: string;
  readonly ip: string;
}

/** What a connect says about the policy: answered by the pod aimed at, silence, or neither. */
export function verdictOf(outcome: ConnectOutcome, target: string): Verdict | 'error' {
  if (outcome.outcome === 'timeout') return 'denied';
  return outcome.outcome === 'answered' && outcome.reply === target ? 'allowed' : 'error';
}

export function outcomeText(outcome: ConnectOutcome): string {
  switch (outcome.outcome) {
    case 'answered':
      return `connected, ${outcome.ms.toFixed(1)} ms`;
    case 'timeout':
      return `no answer in ${Math.round(outcome.ms)} ms`;
    case 'error':
      return `error: ${outcome.error}`;
  }
}

export interface ProbeRound {
  readonly title: string;
  readonly outcomes: readonly ConnectOutcome[];
  readonly expect: (probe: ProbeSpec) => Verdict;
}

const tierOf = (name: string) => TIERS[name] ?? '-';
const podText = (name: string) => `${name} (${tierOf(name)})`;

/**
 * One row per probe, one column per round: what the connect saw, marked UNEXPECTED where the
 * verdict is not the round's; then what the policy should do and why.
 */
export function probeTable(
  pods: ReadonlyMap<string, ScenePod>,
  probes: readonly ProbeSpec[],
  rounds: readonly ProbeRound[],
): string {
  return renderTable(
    ['FROM', 'TO', 'PATH', ...rounds.map((round) => round.title), 'POLICY SAYS'],
    probes.map((probe, i) => {
      const from = pods.get(probe.from);
      const to = pods.get(probe.to);
      return [
        podText(probe.from),
        `${podText(probe.to)} ${to?.ip ?? '?'}:${probe.port}`,
        from?.node === to?.node ? `${from?.node} (same node)` : `${from?.node} -> ${to?.node}`,
        ...rounds.map((round) => {
          const outcome = round.outcomes[i];
          const ok = verdictOf(outcome, probe.to) === round.expect(probe);
          return `${outcomeText(outcome)}${ok ? '' : ' UNEXPECTED'}`;
        }),
        `${probe.expect} (${probe.why})`,
      ];
    }),
  );
}

/** `<what failed>` for every probe of a round whose verdict is not the round's. */
export function probeFailures(probes: readonly ProbeSpec[], round: ProbeRound): string[] {
  return probes.flatMap((probe, i) => {
    const got = verdictOf(round.outcomes[i], probe.to);
    const expected = round.expect(probe);
    return got === expected
      ? []
      : [
          `${round.title}: ${podText(probe.from)} -> ${podText(probe.to)}:${probe.port} ` +
            `${got} (${outcomeText(round.outcomes[i])}), expected ${expected}`,
        ];
  });
}

// ---- per-rule counters -----------------------------------------------------------------------

export type CounterKind = 'allowed' | 'denied' | 'stagedWouldDeny' | 'stagedWouldAllow';

/** Rule ids docs/policy.md reserves. */
export const RULE_NOTHING_DECIDED = 0;
export const RULE_ISOLATION = 1;

/**
 * The least each node's counters must show after the probes: one new flow per probe, counted
 * once where the selected pod (db) receives it — allowed under the NetworkPolicy's rule, denied
 * under the application tier's isolation (rule 1) and, in the rounds with the staged deny, an
 * allowed flow also as "would deny" under the staged rule. A denied SYN the client retries
 * counts again, hence "at least". Keys `<node>/<rule>/<kind>`.
 */
export function expectedCounts(
  pods: ReadonlyMap<string, ScenePod>,
  rounds: readonly { readonly staged: boolean }[],
  rules: { readonly allow: number; readonly staged: number },
): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (node: string, rule: number, kind: CounterKind) => {
    const key = `${node}/${rule}/${kind}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  for (const round of rounds) {
    for (const probe of PROBES) {
      const to = pods.get(probe.to);
      if (to === undefined || TIERS[probe.to] !== 'db') continue;
      if (probe.expect === 'allowed') {
        add(to.node, rules.allow, 'allowed');
        if (round.staged) add(to.node, rules.staged, 'stagedWouldDeny');
      } else {
        add(to.node, RULE_ISOLATION, 'denied');
      }
    }
  }
  return counts;
}

export interface NodeRules {
  readonly node: string;
  /** undefined: the agent did not answer. */
  readonly rules: readonly AgentPolicyRuleCounters[] | undefined;
}

/** What the counters lack against `expected`, and any packet a staged rule denied. */
export function counterFailures(
  nodes: readonly NodeRules[],
  expected: ReadonlyMap<string, number>,
  stagedRule: number,
): string[] {
  const failures: string[] = [];
  const reported = new Map<string, number>();
  for (const { node, rules } of nodes) {
    if (rules === undefined) {
      failures.push(`${node}'s agent reported no policy counters`);
      continue;
    }
    for (const row of rules) {
      for (const kind of ['allowed', 'denied', 'stagedWouldDeny', 'stagedWouldAllow'] as const) {
        reported.set(`${node}/${row.rule}/${kind}`, row[kind].packets);
      }
      if (row.rule === stagedRule && row.denied.packets > 0) {
        failures.push(`the staged rule denied ${row.denied.packets} packets on ${node}`);
      }
    }
  }
  for (const [key, least] of expected) {
    const [node, rule, kind] = key.split('/');
    if (!nodes.some((n) => n.node === node && n.rules !== undefined)) continue;
    const got = reported.get(key) ?? 0;
    if (got < least) {
      failures.push(`rule ${rule} on ${node}: ${kind} ${got} packets, expected at least ${least}`);
    }
  }
  return failures;
}

export interface RuleName {
  readonly policy: string;
  readonly action: string;
}

/** Every rule that counted something, per node: which rule and tier allowed or denied what. */
export function ruleCountersTable(
  nodes: readonly NodeRules[],
  nameOf: (rule: number) => RuleName | undefined,
): string {
  const rows = nodes.flatMap(({ node, rules }) =>
    (rules ?? [])
      .filter(
        (row) =>
          row.allowed.packets +
            row.denied.packets +
            row.stagedWouldDeny.packets +
            row.stagedWouldAllow.packets >
          0,
      )
      .map((row) => {
        const named = reservedRule(row.rule) ?? nameOf(row.rule);
        return [
          node,
          String(row.rule),
          named?.policy ?? row.policyId ?? '(unknown)',
          row.tier ?? (row.rule === RULE_ISOLATION ? 'application' : '-'),
          row.direction === null ? '-' : `${row.direction} #${row.index}`,
          named?.action ?? '-',
          String(row.allowed.packets),
          String(row.denied.packets),
          String(row.stagedWouldDeny.packets),
          String(row.stagedWouldAllow.packets),
        ];
      }),
  );
  if (rows.length === 0) return '(no rule counted a packet)';
  return renderTable(
    [
      'NODE',
      'RULE',
      'POLICY',
      'TIER',
      'RULE OF',
      'ACTION',
      'ALLOWED',
      'DENIED',
      'WOULD DENY',
      'WOULD ALLOW',
    ],
    rows,
  );
}

function reservedRule(rule: number): RuleName | undefined {
  if (rule === RULE_ISOLATION)
    return { policy: '(isolation: selected, no rule matched)', action: 'deny' };
  if (rule === RULE_NOTHING_DECIDED) return { policy: '(no tier decided)', action: 'allow' };
  return undefined;
}
