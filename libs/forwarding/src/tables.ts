/**
 * The desired forwarding state of one node, as tables keyed the way the dataplane looks them
 * up. Entries are flat objects of strings and numbers, never mutated once in a table: a change
 * replaces the entry, so holding on to one is safe.
 */

/** A pod on this node, by IP: where to deliver and what it may send as (anti-spoofing). */
export interface LocalEndpointEntry {
  readonly uid: string;
  /** Host side of the pod's veth, derived from the uid (see interfaceName). */
  readonly interfaceName: string;
  readonly mac: string;
  /** The segment's VNI; 0 while the segment is unknown (no VNI matches, traffic drops). */
  readonly vni: number;
  /** Source identity; 0 when unknown. */
  readonly identity: number;
}

/** A pod on another live node, by IP: where to encapsulate to. */
export interface RemoteEndpointEntry {
  readonly uid: string;
  readonly node: string;
  readonly vtepAddress: string;
  readonly vtepMac: string;
  readonly mac: string;
  readonly vni: number;
  /** Source identity; 0 when unknown. */
  readonly identity: number;
}

/** Another live node's VXLAN tunnel endpoint, by node name. */
export interface VtepEntry {
  readonly address: string;
  readonly mac: string;
}

/**
 * One row of the compiled policy lookup (docs/policy.md), keyed
 * `<dir>:<local>:<peer>:<proto>[:<port>/<bits>]`: the enforced verdict and rule, and the
 * verdict and rule with staged policies counted as enforced.
 */
export interface PolicyEntry {
  readonly verdict: 'allow' | 'deny';
  readonly rule: number;
  readonly stagedVerdict: 'allow' | 'deny';
  readonly stagedRule: number;
}

/** An address block's node-local identity, keyed `<a.b.c.d>/<len>` (an LPM entry). */
export interface PrefixEntry {
  readonly identity: number;
}

/** What a rule id stands for, keyed by the rule id in decimal: for counters by rule. */
export interface RuleEntry {
  readonly policyId: string;
  readonly name: string;
  readonly tier: 'platform' | 'application' | 'baseline';
  readonly direction: 'ingress' | 'egress';
  /** The rule's position among the policy's rules of that direction. */
  readonly index: number;
  readonly action: 'allow' | 'deny' | 'pass';
  readonly staged: boolean;
}

export interface ForwardingTables {
  readonly local: ReadonlyMap<string, LocalEndpointEntry>;
  readonly remote: ReadonlyMap<string, RemoteEndpointEntry>;
  readonly vteps: ReadonlyMap<string, VtepEntry>;
  readonly policy: ReadonlyMap<string, PolicyEntry>;
  readonly prefixes: ReadonlyMap<string, PrefixEntry>;
  readonly rules: ReadonlyMap<string, RuleEntry>;
}

export type TableName = keyof ForwardingTables;
/** Every table, in the order digests, snapshots and deltas list them. */
export const TABLE_NAMES: readonly TableName[] = [
  'local',
  'remote',
  'vteps',
  'policy',
  'prefixes',
  'rules',
];

/** An entry of a table, by the table's name. */
export type EntryOf<T extends TableName> =
  ForwardingTables[T] extends ReadonlyMap<string, infer Entry> ? Entry : never;

export type MutableTables = { -readonly [T in TableName]: Map<string, EntryOf<T>> };

export function emptyTables(): MutableTables {
  return {
    local: new Map(),
    remote: new Map(),
    vteps: new Map(),
    policy: new Map(),
    prefixes: new Map(),
    rules: new Map(),
  };
}

/** Per table, the keys whose entries may differ from what was last reconciled. */
export type ChangedKeys = { readonly [T in TableName]: Set<string> };

export function emptyChanges(): ChangedKeys {
  return {
    local: new Set(),
    remote: new Set(),
    vteps: new Set(),
    policy: new Set(),
    prefixes: new Set(),
    rules: new Set(),
  };
}

/** A copy that later changes to `tables` do not affect (entries are immutable and shared). */
export function copyTables(tables: ForwardingTables): MutableTables {
  return {
    local: new Map(tables.local),
    remote: new Map(tables.remote),
    vteps: new Map(tables.vteps),
    policy: new Map(tables.policy),
    prefixes: new Map(tables.prefixes),
    rules: new Map(tables.rules),
  };
}

/** Plain, key-sorted JSON form: for tests, CLI output and digests. */
export type TablesJson = {
  readonly [T in TableName]: ReadonlyArray<readonly [string, EntryOf<T>]>;
};

export function tablesToJson(tables: ForwardingTables): TablesJson {
  return {
    local: sortedEntries(tables.local),
    remote: sortedEntries(tables.remote),
    vteps: sortedEntries(tables.vteps),
    policy: sortedEntries(tables.policy),
    prefixes: sortedEntries(tables.prefixes),
    rules: sortedEntries(tables.rules),
  };
}

export function sortedEntries<Entry>(table: ReadonlyMap<string, Entry>): [string, Entry][] {
  return [...table].sort(([a], [b]) => compareKeys(a, b));
}

/** Code-unit order: the same on every node, unlike localeCompare. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Equal entries: the same own fields with the same primitive values. */
export function sameEntry(a: object, b: object): boolean {
  if (a === b) return true;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (left[key] !== right[key] || !Object.prototype.hasOwnProperty.call(right, key)) return false;
  }
  return true;
}
