import { parseLabels, type Labels } from '../net/labels';
import {
  KIND_LABEL,
  MAX_ALLOCATED_IDENTITY,
  MIN_ALLOCATED_IDENTITY,
  SEGMENT_LABEL,
} from '../policy/model';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';

/**
 * IdentityPool: one numeric security identity per distinct security label set
 * (docs/policy.md "Security labels and identities"). Stream: `identitypool-default`.
 *
 * Numbers 256..65535 are handed out lowest free first, so they stay small and are reused after
 * a release. Acquiring a label set that already has an identity returns it and appends nothing
 * (idempotent). Releasing is the policy service's business once no endpoint has held the
 * identity for a grace period; the pool only checks that the number is still the key's, so a
 * late release of a number that has since gone to another label set changes nothing. The state
 * holds the allocated identities only, never the free space.
 */
export const IDENTITY_POOL_ID = 'default';
export const identityPoolStream = (poolId: string = IDENTITY_POOL_ID): string =>
  `identitypool-${poolId}`;

/**
 * Label keys that change from one replica of a workload to the next: not part of an
 * endpoint's security labels, or every replica would get an identity of its own.
 */
export const PER_REPLICA_LABEL_KEYS: readonly string[] = [
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
];

/** Label keys Strata derives itself; an endpoint's own labels may not carry them. */
export const DERIVED_LABEL_KEYS: readonly string[] = [SEGMENT_LABEL, KIND_LABEL];

/** Throws InvalidLabels when `labels` carries a key Strata derives (strata.io/segment, /kind). */
export function assertNoDerivedLabels(labels: Labels, what = 'labels'): void {
  const derived = DERIVED_LABEL_KEYS.filter((key) => Object.hasOwn(labels, key));
  if (derived.length > 0) {
    throw new DomainError(
      'InvalidLabels',
      `${what}: ${derived.join(', ')} ${derived.length === 1 ? 'is' : 'are'} set by Strata from the endpoint, not by its labels`,
    );
  }
}

/**
 * An endpoint's security labels: its labels without the per-replica keys, plus
 * `strata.io/segment=<segmentId>` and `strata.io/kind=<kind>`, in canonical (sorted) form.
 * Throws InvalidLabels for labels that are not valid or that set a derived key themselves.
 */
export function securityLabels(
  labels: Labels,
  endpoint: { readonly segmentId: string; readonly kind: string },
): Labels {
  const own = parseLabels(labels);
  assertNoDerivedLabels(own);
  const kept = Object.entries(own).filter(([key]) => !PER_REPLICA_LABEL_KEYS.includes(key));
  return parseLabels({
    ...Object.fromEntries(kept),
    [SEGMENT_LABEL]: endpoint.segmentId,
    [KIND_LABEL]: endpoint.kind,
  });
}

/**
 * The canonical string of a label set: `key=value` pairs in key order, joined by `,`. Neither
 * character can occur in a label key or value, so two sets have the same key exactly when they
 * are equal.
 */
export function labelSetKey(labels: Labels): string {
  return Object.keys(labels)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((key) => `${key}=${labels[key]}`)
    .join(',');
}

export type IdentityAllocated = Event<
  'IdentityAllocated',
  { identity: number; key: string; labels: Labels }
>;
export type IdentityReleased = Event<'IdentityReleased', { identity: number; key: string }>;
export type IdentityPoolEvent = IdentityAllocated | IdentityReleased;

/**
 * `labels` are security labels (see `securityLabels`). `lastIdentity` bounds the numbers handed
 * out (default 65535): the service's setting, lowered by tests to run out on purpose.
 */
export type AcquireIdentity = Command<'AcquireIdentity', { labels: Labels; lastIdentity?: number }>;
/** Releases `identity` if it is still `key`'s; otherwise nothing happens. */
export type ReleaseIdentity = Command<'ReleaseIdentity', { identity: number; key: string }>;
export type IdentityPoolCommand = AcquireIdentity | ReleaseIdentity;

export interface AllocatedIdentity {
  readonly identity: number;
  readonly key: string;
  readonly labels: Labels;
}

export interface IdentityPoolState {
  /** key -> identity and identity -> key: the allocated identities only. */
  readonly byKey: ReadonlyMap<string, AllocatedIdentity>;
  readonly byIdentity: ReadonlyMap<number, AllocatedIdentity>;
}

/** The identity `labels` (security labels) hold, if any. */
export function identityOf(state: IdentityPoolState, labels: Labels): number | undefined {
  return state.byKey.get(labelSetKey(labels))?.identity;
}

function assertIdentity(value: unknown, what: string): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_ALLOCATED_IDENTITY ||
    value > MAX_ALLOCATED_IDENTITY
  ) {
    throw new DomainError(
      'InvalidArgument',
      `${what} must be an integer ${MIN_ALLOCATED_IDENTITY}-${MAX_ALLOCATED_IDENTITY}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function decideIdentityPool(
  command: IdentityPoolCommand,
  state: IdentityPoolState,
): IdentityPoolEvent[] {
  switch (command.type) {
    case 'AcquireIdentity': {
      const labels = parseLabels(command.data.labels, 'security labels');
      if (Object.keys(labels).length === 0) {
        throw new DomainError('InvalidLabels', 'security labels must not be empty');
      }
      const last = assertIdentity(
        command.data.lastIdentity ?? MAX_ALLOCATED_IDENTITY,
        'last identity',
      );
      const key = labelSetKey(labels);
      if (state.byKey.has(key)) return [];
      const identity = lowestFree(state, last);
      return [{ type: 'IdentityAllocated', data: { identity, key, labels } }];
    }
    case 'ReleaseIdentity': {
      const identity = assertIdentity(command.data.identity, 'identity');
      const held = state.byIdentity.get(identity);
      if (held === undefined || held.key !== command.data.key) return [];
      return [{ type: 'IdentityReleased', data: { identity, key: held.key } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown identity pool command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

/** Lowest identity not held, from 256; O(allocated). IdentitiesExhausted past `last`. */
function lowestFree(state: IdentityPoolState, last: number): number {
  let identity = MIN_ALLOCATED_IDENTITY;
  while (identity <= last && state.byIdentity.has(identity)) identity++;
  if (identity > last) {
    throw new DomainError(
      'IdentitiesExhausted',
      `every identity ${MIN_ALLOCATED_IDENTITY}-${last} is held by a label set (${state.byIdentity.size} in use)`,
    );
  }
  return identity;
}

export function evolveIdentityPool(
  state: IdentityPoolState,
  event: IdentityPoolEvent,
): IdentityPoolState {
  switch (event.type) {
    case 'IdentityAllocated': {
      const allocated: AllocatedIdentity = event.data;
      return {
        byKey: new Map(state.byKey).set(allocated.key, allocated),
        byIdentity: new Map(state.byIdentity).set(allocated.identity, allocated),
      };
    }
    case 'IdentityReleased': {
      if (state.byIdentity.get(event.data.identity)?.key !== event.data.key) return state;
      const byKey = new Map(state.byKey);
      const byIdentity = new Map(state.byIdentity);
      byKey.delete(event.data.key);
      byIdentity.delete(event.data.identity);
      return { byKey, byIdentity };
    }
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const identityPoolDecider: Decider<
  IdentityPoolState,
  IdentityPoolCommand,
  IdentityPoolEvent
> = {
  decide: decideIdentityPool,
  evolve: evolveIdentityPool,
  initialState: () => ({ byKey: new Map(), byIdentity: new Map() }),
};
