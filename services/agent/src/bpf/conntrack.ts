import { IDENTITY_UNKNOWN } from '@strata/domain';
import {
  identityOfAddress,
  lookupPolicy,
  type ForwardingTables,
  type PolicyLookup,
} from '@strata/forwarding';
import type { ConnectionKey } from '../../../../dataplane/bpf/maps';

/**
 * What the agent decides about strata_ct entries (dataplane/bpf/lib/conntrack.h), in user space
 * and without I/O: whether the current tables still allow the flow that opened a connection, and
 * whether it has been idle too long. BpfDataplane walks the map and deletes what these refuse.
 */

const IPPROTO_TCP = 6;
const IPPROTO_ICMP = 1;
const IPPROTO_SCTP = 132;

/**
 * Why an entry goes, or `kept`:
 * - `denied`: the tables as they are now deny the opening packet (its egress at this node if the
 *   source is a local pod, its ingress if the destination is);
 * - `stale`: neither address is a local pod any more, so no program can use the entry, and a pod
 *   that gets either address later must not inherit it.
 */
export type ConnectionVerdict = 'kept' | 'denied' | 'stale';

/**
 * The verdict the programs would give the packet that opened `key` if it came now, from the
 * tables this node's maps hold (the `local`, `remote`, `policy` and `prefixes` tables; parked
 * local entries are not in the map, so not in `tables` either). It mirrors lib/pod.h and
 * lib/underlay.h:
 * - source a local pod (pod egress): egress of the source toward the destination's identity
 *   (local or remote endpoint, else `prefixes`, else world); if the destination is a local pod
 *   too, also its ingress from the source's identity;
 * - else destination a local pod (arrived over the tunnel): ingress of the destination from the
 *   identity the packet carried in VXLAN-GBP, which the sending node stamps from the same fold:
 *   the `remote` table's identity of the source; a source that is no remote endpoint reads as
 *   unknown (0, as from a VTEP without GBP).
 * Policy is looked up on the key's destination port, 0 for ICMP (ct_policy_port).
 * `lookup` lets a caller memoize lookupPolicy over one walk; default lookupPolicy itself.
 */
export function connectionVerdict(
  tables: ForwardingTables,
  key: ConnectionKey,
  lookup: (query: PolicyLookup) => boolean = (query) =>
    lookupPolicy(tables, query).verdict === 'allow',
): ConnectionVerdict {
  const protocol = key.protocol;
  const port = protocol === IPPROTO_ICMP ? 0 : key.destinationPort;
  const source = tables.local.get(key.source);
  const destination = tables.local.get(key.destination);
  if (source !== undefined) {
    const egress = lookup({
      direction: 'egress',
      local: source.identity,
      peer: identityOfAddress(tables, key.destination),
      protocol,
      port,
    });
    if (!egress) return 'denied';
    if (destination === undefined) return 'kept';
    return lookup({
      direction: 'ingress',
      local: destination.identity,
      peer: source.identity,
      protocol,
      port,
    })
      ? 'kept'
      : 'denied';
  }
  if (destination === undefined) return 'stale';
  return lookup({
    direction: 'ingress',
    local: destination.identity,
    peer: tables.remote.get(key.source)?.identity ?? IDENTITY_UNKNOWN,
    protocol,
    port,
  })
    ? 'kept'
    : 'denied';
}

/** lookupPolicy's verdicts over one set of tables, each distinct query looked up once. */
export function memoizedLookup(tables: ForwardingTables): (query: PolicyLookup) => boolean {
  const verdicts = new Map<string, boolean>();
  return (query) => {
    const id = `${query.direction}:${query.local}:${query.peer}:${query.protocol}:${query.port}`;
    let allowed = verdicts.get(id);
    if (allowed === undefined) {
      allowed = lookupPolicy(tables, query).verdict === 'allow';
      verdicts.set(id, allowed);
    }
    return allowed;
  };
}

/** How long an entry may go without a packet before the agent removes it, in milliseconds. */
export interface IdleTimeouts {
  /**
   * TCP and SCTP (connection-oriented, kept alive by their own keepalives). Default 6 h: longer
   * than Linux's default TCP keepalive (2 h idle, then probes), so a pooled connection that only
   * keepalives touch never expires; an expired connection whose next packet is a reply (a
   * server push into an isolated pod) would be dropped as a new flow.
   */
  readonly tcp: number;
  /**
   * UDP, ICMP and everything else. Default 60 s: datagram "connections" have no end the
   * programs could see, request/response exchanges (DNS, echo) are over in well under a second,
   * and streams (QUIC, WireGuard, RTP) send at least every 30 s or so.
   */
  readonly other: number;
}

export const DEFAULT_IDLE_TIMEOUTS: IdleTimeouts = Object.freeze({
  tcp: 6 * 60 * 60 * 1000,
  other: 60 * 1000,
});

/**
 * True when an entry last seen at `lastSeenNs` has been idle longer than its protocol's timeout
 * at `nowNs` (both CLOCK_MONOTONIC, as bpf_ktime_get_ns). A last-seen time ahead of `nowNs` (a
 * packet since `nowNs` was read) is not idle.
 */
export function idleTooLong(
  protocol: number,
  lastSeenNs: bigint,
  nowNs: bigint,
  timeouts: IdleTimeouts,
): boolean {
  const timeoutMs =
    protocol === IPPROTO_TCP || protocol === IPPROTO_SCTP ? timeouts.tcp : timeouts.other;
  return nowNs - lastSeenNs > BigInt(Math.round(timeoutMs)) * 1_000_000n;
}
