import type { AgentDataplaneCounters } from '@strata/bus';
import { sortedEntries, type ForwardingTables } from '@strata/forwarding';
import { renderTable } from '../output/table';
import type { EchoResult, PingResult } from './traffic';

/** What the lab demo prints: one pure function per section's table, from plain data. */

export interface DemoPod {
  readonly name: string;
  readonly node: string;
  readonly uid: string;
  readonly ip: string;
}

export interface Probe<Result> {
  readonly from: DemoPod;
  readonly to: DemoPod;
  readonly result: Result;
}

export type PingOutcome = PingResult | { readonly error: string };

export function heading(title: string): string {
  return `\n== ${title} ==`;
}

export function pingPassed(outcome: PingOutcome): boolean {
  return !('error' in outcome) && outcome.received === outcome.transmitted && outcome.received > 0;
}

const path = (from: DemoPod, to: DemoPod) =>
  from.node === to.node ? `${from.node} (same node)` : `${from.node} -> ${to.node} (VXLAN)`;
const target = (pod: DemoPod) => `${pod.name} ${pod.ip}`;
const ms = (value: number) => value.toFixed(3);

export function podTable(pods: readonly (DemoPod & { readonly namespace: string })[]): string {
  return renderTable(
    ['POD', 'NODE', 'IP', 'NAMESPACE'],
    pods.map((pod) => [pod.name, pod.node, pod.ip, pod.namespace]),
  );
}

export function pingTable(probes: readonly Probe<PingOutcome>[]): string {
  return renderTable(
    ['FROM', 'TO', 'PATH', 'RECEIVED', 'LOSS', 'RTT MIN/AVG/MAX'],
    probes.map(({ from, to, result }) =>
      'error' in result
        ? [from.name, target(to), path(from, to), '-', '-', `FAILED: ${result.error}`]
        : [
            from.name,
            target(to),
            path(from, to),
            `${result.received}/${result.transmitted}`,
            `${result.lossPercent}%`,
            result.rtt === null
              ? '-'
              : `${ms(result.rtt.min)}/${ms(result.rtt.avg)}/${ms(result.rtt.max)} ms`,
          ],
    ),
  );
}

export function echoTable(probes: readonly Probe<EchoResult>[]): string {
  return renderTable(
    ['CLIENT', 'SERVER', 'PATH', 'ECHOED', 'TIME', 'RESULT'],
    probes.map(({ from, to, result }) =>
      result.ok
        ? [
            from.name,
            `${target(to)}:7000`,
            path(from, to),
            `${result.bytes} B`,
            `${Math.round(result.ms)} ms`,
            'ok',
          ]
        : [from.name, `${target(to)}:7000`, path(from, to), '-', '-', `FAILED: ${result.error}`],
    ),
  );
}

/**
 * One node's desired tables: its pods (local), the other nodes' pods (remote), the VTEPs.
 * Endpoints are listed by pod name, which reads better than the tables' IP order.
 */
export function forwardingTable(tables: ForwardingTables, podOf: (uid: string) => string): string {
  const byPod = <Entry extends { readonly uid: string }>(table: ReadonlyMap<string, Entry>) =>
    [...table].sort(([, a], [, b]) => podOf(a.uid).localeCompare(podOf(b.uid)));
  return renderTable(
    ['TABLE', 'KEY', 'POD', 'VIA', 'MAC', 'VNI', 'IDENTITY'],
    [
      ...byPod(tables.local).map(([ip, entry]) => [
        'local',
        ip,
        podOf(entry.uid),
        `veth ${entry.interfaceName}`,
        entry.mac,
        String(entry.vni),
        String(entry.identity),
      ]),
      ...byPod(tables.remote).map(([ip, entry]) => [
        'remote',
        ip,
        podOf(entry.uid),
        `VTEP ${entry.node} ${entry.vtepAddress}`,
        entry.mac,
        String(entry.vni),
        String(entry.identity),
      ]),
      ...sortedEntries(tables.vteps).map(([node, entry]) => [
        'vtep',
        node,
        '-',
        entry.address,
        entry.mac,
        '-',
        '-',
      ]),
    ],
  );
}

const NAMED_STATS = ['encapsulated', 'decapsulated', 'forwarded_local', 'arp_replied'] as const;

/** Per node: the outcomes that show the overlay working, every other outcome, every drop. */
export function countersTable(
  nodes: readonly { readonly node: string; readonly counters: AgentDataplaneCounters | null }[],
): string {
  const pairs = (counts: Readonly<Record<string, number>>, skip: readonly string[] = []) =>
    Object.entries(counts)
      .filter(([name, count]) => count > 0 && !skip.includes(name))
      .map(([name, count]) => `${name}=${count}`)
      .join(' ');
  return renderTable(
    ['NODE', 'ENCAPSULATED', 'DECAPSULATED', 'FORWARDED LOCAL', 'ARP REPLIED', 'OTHER', 'DROPS'],
    nodes.map(({ node, counters }) =>
      counters === null
        ? [node, '-', '-', '-', '-', '(the agent did not answer)', '-']
        : [
            node,
            ...NAMED_STATS.map((stat) => String(counters.stats[stat] ?? 0)),
            pairs(counters.stats, NAMED_STATS) || '-',
            pairs(counters.drops) || 'none',
          ],
    ),
  );
}

/** Where a packet left (its pod), then where it arrived (over the overlay). */
const DIRECTION_ORDER = ['from_pod', 'from_overlay'];

/**
 * Forwarded packets per (source identity, destination identity, direction), every node's rows
 * together: a pod-to-pod flow across nodes shows as `from_pod` where it left and
 * `from_overlay` where it arrived.
 */
export function trafficTable(
  nodes: readonly { readonly node: string; readonly counters: AgentDataplaneCounters | null }[],
  identityName: (identity: number) => string,
): string {
  const rows = nodes.flatMap(({ node, counters }) =>
    (counters?.traffic ?? []).map((traffic) => ({ node, ...traffic })),
  );
  const named = (identity: number) => `${identityName(identity)} (${identity})`;
  rows.sort(
    (a, b) =>
      named(a.srcIdentity).localeCompare(named(b.srcIdentity)) ||
      named(a.dstIdentity).localeCompare(named(b.dstIdentity)) ||
      DIRECTION_ORDER.indexOf(a.direction) - DIRECTION_ORDER.indexOf(b.direction) ||
      a.node.localeCompare(b.node),
  );
  return renderTable(
    ['SOURCE', 'DESTINATION', 'NODE', 'DIRECTION', 'PACKETS', 'BYTES'],
    rows.map((row) => [
      named(row.srcIdentity),
      named(row.dstIdentity),
      row.node,
      row.direction,
      String(row.packets),
      String(row.bytes),
    ]),
  );
}
