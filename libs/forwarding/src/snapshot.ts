import { POLICY_PROTOCOLS, readPolicySpec, type Labels, type PolicySpec } from '@strata/domain';
import type { NamedPortFact } from './policy/facts';

/**
 * A forwarding state as plain JSON: the aggregate facts the fold keeps (not the derived
 * tables, which `restore` rebuilds), the stream revisions that make re-delivery harmless, and
 * the log position it reflects. Lists are sorted, so equal states give equal snapshots up to
 * `stats`.
 */
export const FORWARDING_SNAPSHOT_VERSION = 2;

export interface SnapshotEndpoint {
  readonly uid: string;
  readonly segmentId: string;
  /** '' for an external endpoint. */
  readonly node: string;
  readonly ip: string;
  readonly mac: string;
  readonly labels: Labels;
  readonly kind: 'pod' | 'external';
  /** 0 when unknown. */
  readonly identity: number;
  readonly namedPorts: readonly NamedPortFact[];
}

export interface SnapshotPolicy {
  readonly policyId: string;
  /** The revision of the policy's stream that set `spec`. */
  readonly revision: number;
  readonly spec: PolicySpec;
}

export interface SnapshotNode {
  readonly name: string;
  readonly vtepAddress: string;
  readonly vtepMac: string;
  readonly down: boolean;
}

export interface SnapshotSegment {
  readonly segmentId: string;
  readonly vni: number;
}

/** Counts of events by what the fold did with them. */
export interface FoldStats {
  /** Events that the fold took into account (whether or not a table changed). */
  readonly applied: number;
  /** Events at or below their stream's last folded revision: re-deliveries. */
  readonly duplicates: number;
  /** Strata events this fold does not need (pools, clusters, ...). */
  readonly ignored: number;
  /** Event types this version does not know (a newer writer): skipped, forward compatible. */
  readonly unknown: number;
  /** Known event types whose payload lacks what the fold needs: skipped. */
  readonly rejected: number;
}

export interface ForwardingSnapshot {
  readonly version: typeof FORWARDING_SNAPSHOT_VERSION;
  readonly node: string;
  /** The highest log position folded; 0 for none. */
  readonly position: number;
  /** Last folded revision per stream, by stream name. */
  readonly revisions: ReadonlyArray<readonly [string, number]>;
  readonly segments: readonly SnapshotSegment[];
  readonly nodes: readonly SnapshotNode[];
  readonly endpoints: readonly SnapshotEndpoint[];
  readonly policies: readonly SnapshotPolicy[];
  readonly stats: FoldStats;
}

export class InvalidSnapshot extends Error {
  constructor(message: string) {
    super(`invalid forwarding snapshot: ${message}`);
    this.name = 'InvalidSnapshot';
  }
}

/** Checks that `value` is a snapshot this version can restore; throws InvalidSnapshot. */
export function parseSnapshot(value: unknown): ForwardingSnapshot {
  const s = record(value, 'snapshot');
  if (s.version !== FORWARDING_SNAPSHOT_VERSION) {
    throw new InvalidSnapshot(
      `version ${JSON.stringify(s.version)} is not supported (expected ${FORWARDING_SNAPSHOT_VERSION})`,
    );
  }
  text(s.node, 'node');
  count(s.position, 'position');
  // The per-item checks name the item only when one fails: a snapshot of a long history lists
  // tens of thousands of streams, and a message built for each would cost more than the check.
  const revisions = list(s.revisions, 'revisions');
  for (let i = 0; i < revisions.length; i++) {
    const pair = revisions[i];
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new InvalidSnapshot(`revisions[${i}] must be [stream, revision]`);
    }
    if (!isText(pair[0])) text(pair[0], `revisions[${i}] stream`);
    if (!isCount(pair[1])) count(pair[1], `revisions[${i}] revision`);
  }
  list(s.segments, 'segments').forEach((item, i) => {
    const segment = record(item, `segments[${i}]`);
    text(segment.segmentId, `segments[${i}].segmentId`);
    count(segment.vni, `segments[${i}].vni`);
  });
  list(s.nodes, 'nodes').forEach((item, i) => {
    const node = record(item, `nodes[${i}]`);
    for (const field of ['name', 'vtepAddress', 'vtepMac'])
      text(node[field], `nodes[${i}].${field}`);
    if (typeof node.down !== 'boolean')
      throw new InvalidSnapshot(`nodes[${i}].down must be a boolean`);
  });
  const endpoints = list(s.endpoints, 'endpoints');
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = endpoints[i];
    if (!isRecord(endpoint)) record(endpoint, `endpoints[${i}]`);
    const { uid, segmentId, node, ip, mac } = endpoint as Record<string, unknown>;
    if (!isText(uid) || !isText(segmentId) || !isText(node) || !isText(ip) || !isText(mac)) {
      for (const field of ['uid', 'segmentId', 'node', 'ip', 'mac']) {
        text((endpoint as Record<string, unknown>)[field], `endpoints[${i}].${field}`);
      }
    }
    checkEndpoint(endpoint as Record<string, unknown>, i);
  }
  const policies = list(s.policies, 'policies').map((item, i) => {
    const policy = record(item, `policies[${i}]`);
    text(policy.policyId, `policies[${i}].policyId`);
    count(policy.revision, `policies[${i}].revision`);
    try {
      return { ...policy, spec: readPolicySpec(policy.spec) };
    } catch (error: unknown) {
      throw new InvalidSnapshot(`policies[${i}].spec: ${(error as Error).message}`);
    }
  });
  const stats = record(s.stats, 'stats');
  for (const field of ['applied', 'duplicates', 'ignored', 'unknown', 'rejected']) {
    count(stats[field], `stats.${field}`);
  }
  return { ...(value as ForwardingSnapshot), policies: policies as unknown as SnapshotPolicy[] };
}

/**
 * Named ports as an event or snapshot carries them: a list of {name, protocol, port}, port
 * 1-65535; undefined when malformed.
 */
export function parseNamedPorts(value: unknown): NamedPortFact[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: NamedPortFact[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { name, protocol, port } = item as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') return undefined;
    if (!POLICY_PROTOCOLS.includes(protocol as NamedPortFact['protocol'])) return undefined;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
      return undefined;
    }
    out.push({ name, protocol: protocol as NamedPortFact['protocol'], port });
  }
  return out;
}

export function isLabels(value: unknown): value is Labels {
  if (!isRecord(value)) return false;
  // Own enumerable keys, as Object.values would list them, without allocating the list: the
  // fold checks the labels of every endpoint event.
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key) && typeof value[key] !== 'string') {
      return false;
    }
  }
  return true;
}

/** The rest of an endpoint's checks: labels, kind, identity and named ports. */
function checkEndpoint(endpoint: Record<string, unknown>, i: number): void {
  if (!isLabels(endpoint.labels)) {
    throw new InvalidSnapshot(`endpoints[${i}].labels must map strings to strings`);
  }
  if (endpoint.kind !== 'pod' && endpoint.kind !== 'external') {
    throw new InvalidSnapshot(`endpoints[${i}].kind must be pod or external`);
  }
  if (!isCount(endpoint.identity)) count(endpoint.identity, `endpoints[${i}].identity`);
  if ((endpoint.identity as number) > 0xffff) {
    throw new InvalidSnapshot(`endpoints[${i}].identity must be at most 65535`);
  }
  const ports = endpoint.namedPorts;
  if ((!Array.isArray(ports) || ports.length > 0) && parseNamedPorts(ports) === undefined) {
    throw new InvalidSnapshot(
      `endpoints[${i}].namedPorts must be a list of {name, protocol, port}`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) {
    throw new InvalidSnapshot(`${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new InvalidSnapshot(`${what} must be a list`);
  return value;
}

function text(value: unknown, what: string): void {
  if (!isText(value)) throw new InvalidSnapshot(`${what} must be a string`);
}

function count(value: unknown, what: string): void {
  if (!isCount(value)) {
    throw new InvalidSnapshot(`${what} must be a non-negative integer`);
  }
}
