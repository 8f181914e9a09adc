import type { PolicyEntry, PrefixEntry, RuleEntry } from '@strata/forwarding';
import {
  decodePolicyKey,
  decodePolicyValue,
  decodePrefixKey,
  decodePrefixValue,
  encodePolicyKey,
  encodePolicyValue,
  encodePrefixKey,
  encodePrefixValue,
  type PolicyKey,
} from '../../../../dataplane/bpf/maps';

/**
 * The policy tables of libs/forwarding (docs/policy.md "Forwarding tables") as BPF map keys
 * and values, and back: pure functions, no I/O.
 *
 * - `policy` key `<dir>:<local>:<peer>:<proto>[:<port>/<bits>]` ↔ struct strata_policy_key;
 *   entry `{ verdict, rule, stagedVerdict, stagedRule }` ↔ struct strata_policy.
 * - `prefixes` key `<a.b.c.d>/<len>` ↔ struct strata_prefix_key; entry `{ identity }`.
 * - `rules` is no map: the agent keeps it to name the counters of strata_verdicts.
 *
 * A policy or prefix entry holds nothing the map does not, so a map value read back is the
 * entry itself; keys are formatted canonically (decimal, no leading zeros), as the fold writes
 * them. A key or entry that does not fit throws InvalidTableEntry.
 */

export type PolicyTableEntry = PolicyEntry;
export type PrefixTableEntry = PrefixEntry;
export type RuleTableEntry = RuleEntry;

/** A table entry that cannot be written to its map: the entry is skipped, never the batch. */
export class InvalidTableEntry extends Error {
  readonly code = 'InvalidTableEntry';

  constructor(
    readonly table: string,
    readonly key: string,
    readonly reason: string,
  ) {
    super(`${table} ${key}: ${reason}`);
  }

  override get name(): string {
    return 'InvalidTableEntry';
  }
}

const DIRECTIONS: Readonly<Record<string, PolicyKey['direction']>> = {
  i: 'ingress',
  e: 'egress',
};
const DECIMAL = /^(0|[1-9]\d*)$/;

function decimal(text: string, max: number, what: string, key: string): number {
  const value = DECIMAL.test(text) ? Number(text) : NaN;
  if (!(value <= max)) {
    throw new InvalidTableEntry('policy', key, `${what} '${text}' is not an integer 0-${max}`);
  }
  return value;
}

/** `e:1000:2000:6:443/16` → the strata_policy key it stands for. */
export function parsePolicyKey(key: string): PolicyKey {
  const parts = key.split(':');
  if (parts.length < 4 || parts.length > 5) {
    throw new InvalidTableEntry('policy', key, 'not <dir>:<local>:<peer>:<proto>[:<port>/<bits>]');
  }
  const [dir, local, peer, protocol, block] = parts;
  const direction = DIRECTIONS[dir];
  if (direction === undefined) {
    throw new InvalidTableEntry('policy', key, `direction '${dir}' is not 'i' or 'e'`);
  }
  const parsed = {
    direction,
    local: decimal(local, 0xffffffff, 'local identity', key),
    peer: peer === '*' ? ('*' as const) : decimal(peer, 0xfffffffe, 'peer identity', key),
  };
  if (protocol === '*') {
    if (block !== undefined) {
      throw new InvalidTableEntry('policy', key, 'a `*` protocol row has no port block');
    }
    return { ...parsed, protocol: '*' };
  }
  const proto = decimal(protocol, 255, 'protocol', key);
  if (block === undefined) return { ...parsed, protocol: proto };
  const match = /^([^/]+)\/([^/]+)$/.exec(block);
  if (match === null) throw new InvalidTableEntry('policy', key, `'${block}' is not <port>/<bits>`);
  const start = decimal(match[1], 0xffff, 'port', key);
  const bits = decimal(match[2], 16, 'port bits', key);
  // 0 bits would be the protocol row itself under another name.
  if (bits === 0) throw new InvalidTableEntry('policy', key, 'a port block fixes 1-16 bits');
  if ((start & (0xffff >>> bits)) !== 0) {
    throw new InvalidTableEntry('policy', key, `port ${start} has bits set beyond /${bits}`);
  }
  return { ...parsed, protocol: proto, port: { start, bits } };
}

/** The table key a strata_policy key stands for (canonical form). */
export function formatPolicyKey(key: PolicyKey): string {
  const dir = key.direction === 'ingress' ? 'i' : 'e';
  const head = `${dir}:${key.local}:${key.peer}:${key.protocol}`;
  return key.port === undefined ? head : `${head}:${key.port.start}/${key.port.bits}`;
}

export function policyMapKey(key: string): Buffer {
  return encodePolicyKey(parsePolicyKey(key));
}

export function policyMapValue(key: string, entry: PolicyTableEntry): Buffer {
  try {
    return encodePolicyValue(entry);
  } catch (error) {
    throw new InvalidTableEntry('policy', key, (error as Error).message);
  }
}

/** The table key of a strata_policy map key. */
export function policyTableKey(key: Buffer): string {
  return formatPolicyKey(decodePolicyKey(key));
}

/** A strata_policy entry read back: [table key, entry]. */
export function viewPolicy(key: Buffer, value: Buffer): [string, PolicyTableEntry] {
  return [policyTableKey(key), decodePolicyValue(value)];
}

/** `10.0.0.0/8` → the strata_prefixes key. */
export function prefixMapKey(key: string): Buffer {
  const match = /^([^/]+)\/(0|[1-9]\d?)$/.exec(key);
  if (match === null) throw new InvalidTableEntry('prefixes', key, 'not <a.b.c.d>/<len>');
  try {
    return encodePrefixKey({ address: match[1], length: Number(match[2]) });
  } catch (error) {
    throw new InvalidTableEntry('prefixes', key, (error as Error).message);
  }
}

export function prefixMapValue(key: string, entry: PrefixTableEntry): Buffer {
  try {
    return encodePrefixValue(entry);
  } catch (error) {
    throw new InvalidTableEntry('prefixes', key, (error as Error).message);
  }
}

/** The table key of a strata_prefixes map key. */
export function prefixTableKey(key: Buffer): string {
  const { address, length } = decodePrefixKey(key);
  return `${address}/${length}`;
}

/** A strata_prefixes entry read back: [table key, entry]. */
export function viewPrefix(key: Buffer, value: Buffer): [string, PrefixTableEntry] {
  return [prefixTableKey(key), decodePrefixValue(value)];
}
