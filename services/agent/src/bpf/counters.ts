import type { AgentPolicyRuleCounters, Count } from '@strata/bus';
import {
  DROP_REASONS,
  STATS,
  VERDICT_KINDS,
  decodeCounter,
  decodeVerdictCount,
  decodeVerdictKey,
  decodeTraffic,
  decodeTrafficKey,
  encodeIndex,
  type DropReason,
  type Stat,
  type TrafficKey,
  type VerdictKind,
} from '../../../../dataplane/bpf/maps';
import type { RuleTableEntry } from './policy-view';

/**
 * The BPF programs' counters, summed over CPUs: packets dropped per reason, the other outcomes
 * (forwarded, encapsulated, passed to the kernel, ...), and forwarded packets and bytes per
 * (source identity, destination identity, direction). Counts are cumulative since the maps were
 * created (pinned maps outlive agent restarts); counters still at zero are left out.
 */
export interface DataplaneCounters {
  readonly drops: Partial<Record<DropReason, number>>;
  readonly stats: Partial<Record<Stat, number>>;
  /** Sorted by source identity, destination identity, direction. */
  readonly traffic: readonly TrafficCounter[];
}

export interface TrafficCounter extends TrafficKey {
  readonly packets: number;
  readonly bytes: number;
}

/** What reading the counters needs of a map: lookup for the arrays, entries for the hash. */
export interface CounterMap {
  lookup(key: Buffer): Buffer | undefined;
  entries(): Array<[Buffer, Buffer]>;
}

export function readCounters(maps: {
  readonly drops: CounterMap;
  readonly stats: CounterMap;
  readonly traffic: CounterMap;
}): DataplaneCounters {
  const traffic = maps.traffic.entries().map(([key, value]): TrafficCounter => {
    const count = decodeTraffic(value);
    return { ...decodeTrafficKey(key), packets: Number(count.packets), bytes: Number(count.bytes) };
  });
  traffic.sort(
    (a, b) =>
      a.srcIdentity - b.srcIdentity ||
      a.dstIdentity - b.dstIdentity ||
      a.direction.localeCompare(b.direction),
  );
  return {
    drops: readArray(maps.drops, DROP_REASONS),
    stats: readArray(maps.stats, STATS),
    traffic,
  };
}

function readArray<Name extends string>(
  map: CounterMap,
  names: readonly Name[],
): Partial<Record<Name, number>> {
  const counts: Partial<Record<Name, number>> = {};
  names.forEach((name, index) => {
    const value = map.lookup(encodeIndex(index));
    const count = value === undefined ? 0 : Number(decodeCounter(value));
    if (count > 0) counts[name] = count;
  });
  return counts;
}

/** Prometheus text for one node's counters. */
export function countersToPrometheus(node: string, counters: DataplaneCounters): string {
  const lines: string[] = [];
  const family = (name: string, help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const [labels, value] of samples) lines.push(`${name}{${labels}} ${value}`);
  };
  const at = `node="${escapeLabel(node)}"`;
  family(
    'strata_dataplane_drops_total',
    'Packets the BPF dataplane dropped, by reason.',
    Object.entries(counters.drops).map(([reason, count]) => [
      `${at},reason="${reason}"`,
      count as number,
    ]),
  );
  family(
    'strata_dataplane_packets_total',
    'Packets the BPF dataplane handled without dropping them, by outcome.',
    Object.entries(counters.stats).map(([outcome, count]) => [
      `${at},outcome="${outcome}"`,
      count as number,
    ]),
  );
  const pair = (traffic: TrafficCounter) =>
    `${at},src_identity="${traffic.srcIdentity}",dst_identity="${traffic.dstIdentity}",` +
    `direction="${traffic.direction}"`;
  family(
    'strata_dataplane_traffic_packets_total',
    'Packets forwarded per source and destination identity.',
    counters.traffic.map((traffic) => [pair(traffic), traffic.packets]),
  );
  family(
    'strata_dataplane_traffic_bytes_total',
    'Bytes (inner frames) forwarded per source and destination identity.',
    counters.traffic.map((traffic) => [pair(traffic), traffic.bytes]),
  );
  return lines.join('\n') + '\n';
}

const KIND_FIELDS: Readonly<Record<VerdictKind, keyof PolicyRuleCounts>> = {
  allowed: 'allowed',
  denied: 'denied',
  staged_would_deny: 'stagedWouldDeny',
  staged_would_allow: 'stagedWouldAllow',
};

type PolicyRuleCounts = Pick<
  AgentPolicyRuleCounters,
  'allowed' | 'denied' | 'stagedWouldDeny' | 'stagedWouldAllow'
>;

/**
 * strata_verdicts summed over CPUs, one row per rule id (sorted), named through the `rules`
 * table (keyed by the rule id in decimal). Rules the table does not name have nulls.
 */
export function readPolicyRules(
  verdicts: Pick<CounterMap, 'entries'>,
  rules: ReadonlyMap<string, RuleTableEntry>,
): AgentPolicyRuleCounters[] {
  const zero = (): Count => ({ packets: 0, bytes: 0 });
  const byRule = new Map<number, { -readonly [K in keyof PolicyRuleCounts]: Count }>();
  for (const [key, value] of verdicts.entries()) {
    const { rule, kind } = decodeVerdictKey(key);
    const count = decodeVerdictCount(value);
    let row = byRule.get(rule);
    if (row === undefined) {
      row = { allowed: zero(), denied: zero(), stagedWouldDeny: zero(), stagedWouldAllow: zero() };
      byRule.set(rule, row);
    }
    row[KIND_FIELDS[kind]] = { packets: Number(count.packets), bytes: Number(count.bytes) };
  }
  return [...byRule]
    .sort(([a], [b]) => a - b)
    .map(([rule, counts]) => {
      const named = rules.get(String(rule));
      return {
        rule,
        policyId: named?.policyId ?? null,
        tier: named?.tier ?? null,
        direction: named?.direction ?? null,
        index: named?.index ?? null,
        ...counts,
      };
    });
}

/** Prometheus text for the policy verdict counters: strata_agent_policy_packets_total. */
export function policyRulesToPrometheus(
  node: string,
  rules: readonly AgentPolicyRuleCounters[],
): string {
  const name = 'strata_agent_policy_packets_total';
  const lines = [
    `# HELP ${name} Packets the BPF dataplane's policy decided, by rule and kind of verdict.`,
    `# TYPE ${name} counter`,
  ];
  for (const row of rules) {
    for (const kind of VERDICT_KINDS) {
      const count = row[KIND_FIELDS[kind]];
      if (count.packets === 0) continue;
      lines.push(
        `${name}{node="${escapeLabel(node)}",rule="${row.rule}",` +
          `policy="${escapeLabel(row.policyId ?? '')}",tier="${escapeLabel(row.tier ?? '')}",` +
          `kind="${kind}"} ${count.packets}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
