import { IDENTITY_WORLD, formatIpv4, type PolicyDirection } from '@strata/domain';
import type { ForwardingTables, PolicyEntry } from '../tables';
import { addressValue, maskAddress } from './prefix';

/**
 * The dataplane's lookups, done on the compiled tables exactly as the BPF programs do them
 * (docs/policy.md, "BPF"): what the tests hold against the reference evaluator.
 */

export interface PolicyLookup {
  readonly direction: PolicyDirection;
  /** Identity of the endpoint on this node. */
  readonly local: number;
  /** Identity of the other side. */
  readonly peer: number;
  /** IP protocol number. */
  readonly protocol: number;
  /** Destination port (0 for protocols without ports). */
  readonly port: number;
}

const ALLOWED: PolicyEntry = Object.freeze({
  verdict: 'allow',
  rule: 0,
  stagedVerdict: 'allow',
  stagedRule: 0,
});

/**
 * policy_map: the longest match among the peer's rows (port block, else protocol row, else
 * `*` row); the `*` peer's only when the peer has no rows; with neither, allowed (rule 0).
 */
export function lookupPolicy(tables: ForwardingTables, query: PolicyLookup): PolicyEntry {
  const dir = query.direction === 'ingress' ? 'i' : 'e';
  const base = `${dir}:${query.local}:`;
  const peer = tables.policy.has(`${base}${query.peer}:*`) ? `${query.peer}` : '*';
  const prefix = `${base}${peer}:`;
  for (let bits = 16; bits >= 1; bits--) {
    const size = 2 ** (16 - bits);
    const start = query.port - (query.port % size);
    const entry = tables.policy.get(`${prefix}${query.protocol}:${start}/${bits}`);
    if (entry !== undefined) return entry;
  }
  return (
    tables.policy.get(`${prefix}${query.protocol}`) ?? tables.policy.get(`${prefix}*`) ?? ALLOWED
  );
}

/**
 * The identity the dataplane gives an address: the local or remote endpoint table's, else the
 * longest prefix in `prefixes` (external endpoints, CIDR atoms), else world.
 */
export function identityOfAddress(tables: ForwardingTables, ip: string): number {
  const endpoint = tables.local.get(ip) ?? tables.remote.get(ip);
  if (endpoint !== undefined) return endpoint.identity;
  const address = addressValue(ip);
  if (address === undefined) return IDENTITY_WORLD;
  for (let length = 32; length >= 0; length--) {
    const entry = tables.prefixes.get(`${formatIpv4(maskAddress(address, length))}/${length}`);
    if (entry !== undefined) return entry.identity;
  }
  return IDENTITY_WORLD;
}
