import { assertDnsLabel } from '../net/dns';
import { parseNatsUrl } from '../net/nats-url';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';
import { parseTimestamp, type Timestamp } from '../shared/time';

/**
 * Cluster: another Strata cluster this one federates with (segments marked federated span
 * both). Stream: `cluster-<id>`.
 *
 * It is reached over NATS, through a gateway or as a leaf node, at a URL without credentials
 * (../net/nats-url.ts). The federation service reports the link's state with the time it saw
 * it: pending (never connected since registration or the last URL change) -> connected <->
 * disconnected. A report no newer than the current state's is stale and changes nothing, so
 * reports that arrive out of order cannot flip the state back. Removal is final.
 */
export const clusterStream = (clusterId: string): string => `cluster-${clusterId}`;

export type ClusterLink = 'gateway' | 'leaf';
export const CLUSTER_LINKS: readonly ClusterLink[] = ['gateway', 'leaf'];
export const MAX_REASON_LENGTH = 1024;

export type ClusterRegistered = Event<
  'ClusterRegistered',
  { clusterId: string; name: string; url: string; link: ClusterLink }
>;
/** Carries every mutable field with its new value; a new URL or link makes the link pending. */
export type ClusterUpdated = Event<
  'ClusterUpdated',
  { clusterId: string; name: string; url: string; link: ClusterLink }
>;
export type ClusterConnected = Event<'ClusterConnected', { clusterId: string; at: Timestamp }>;
export type ClusterDisconnected = Event<
  'ClusterDisconnected',
  { clusterId: string; at: Timestamp; reason: string }
>;
export type ClusterRemoved = Event<'ClusterRemoved', { clusterId: string }>;
export type ClusterEvent =
  ClusterRegistered | ClusterUpdated | ClusterConnected | ClusterDisconnected | ClusterRemoved;

export type RegisterCluster = Command<
  'RegisterCluster',
  { clusterId: string; name: string; url: string; link: ClusterLink }
>;
export type UpdateCluster = Command<
  'UpdateCluster',
  { clusterId: string; name?: string; url?: string; link?: ClusterLink }
>;
export type ReportClusterConnected = Command<
  'ReportClusterConnected',
  { clusterId: string; at: Timestamp }
>;
export type ReportClusterDisconnected = Command<
  'ReportClusterDisconnected',
  { clusterId: string; at: Timestamp; reason: string }
>;
export type RemoveCluster = Command<'RemoveCluster', { clusterId: string }>;
export type ClusterCommand =
  | RegisterCluster
  | UpdateCluster
  | ReportClusterConnected
  | ReportClusterDisconnected
  | RemoveCluster;

type KnownCluster = { clusterId: string; name: string; url: string; link: ClusterLink };
export type ClusterState =
  | { status: 'empty' }
  | ({ status: 'pending' } & KnownCluster)
  | ({ status: 'connected'; since: Timestamp } & KnownCluster)
  | ({ status: 'disconnected'; since: Timestamp; reason: string } & KnownCluster)
  | { status: 'removed'; clusterId: string };
type LiveCluster = Extract<ClusterState, KnownCluster>;

function assertLink(value: unknown): ClusterLink {
  if (!CLUSTER_LINKS.includes(value as ClusterLink)) {
    throw new DomainError(
      'InvalidArgument',
      `link must be gateway or leaf, got ${JSON.stringify(value)}`,
    );
  }
  return value as ClusterLink;
}

function assertReason(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_REASON_LENGTH) {
    throw new DomainError(
      'InvalidArgument',
      `reason must be a text of 1-${MAX_REASON_LENGTH} characters`,
    );
  }
  return value;
}

/** True when a report at `at` is newer than the state it would replace. */
function isNewer(cluster: LiveCluster, at: number): boolean {
  return cluster.status === 'pending' || at > parseTimestamp(cluster.since, 'last report');
}

export function decideCluster(command: ClusterCommand, state: ClusterState): ClusterEvent[] {
  switch (command.type) {
    case 'RegisterCluster': {
      const data = {
        clusterId: assertId(command.data.clusterId, 'cluster id'),
        name: assertDnsLabel(command.data.name, 'cluster name'),
        url: parseNatsUrl(command.data.url, 'cluster URL'),
        link: assertLink(command.data.link),
      };
      if (state.status === 'removed') {
        throw new DomainError(
          'AlreadyExists',
          `cluster ${data.clusterId} was removed; ids are not reused`,
        );
      }
      if (state.status !== 'empty') {
        if (state.name === data.name && state.url === data.url && state.link === data.link)
          return [];
        throw new DomainError(
          'AlreadyExists',
          `cluster ${data.clusterId} exists with other settings`,
        );
      }
      return [{ type: 'ClusterRegistered', data }];
    }
    case 'UpdateCluster': {
      const live = requireLive(state, command.data.clusterId);
      const data = {
        clusterId: live.clusterId,
        name:
          command.data.name === undefined
            ? live.name
            : assertDnsLabel(command.data.name, 'cluster name'),
        url:
          command.data.url === undefined ? live.url : parseNatsUrl(command.data.url, 'cluster URL'),
        link: command.data.link === undefined ? live.link : assertLink(command.data.link),
      };
      if (data.name === live.name && data.url === live.url && data.link === live.link) return [];
      return [{ type: 'ClusterUpdated', data }];
    }
    case 'ReportClusterConnected': {
      const at = parseTimestamp(command.data.at, 'report time');
      const live = requireLive(state, command.data.clusterId);
      if (live.status === 'connected' || !isNewer(live, at)) return [];
      return [
        { type: 'ClusterConnected', data: { clusterId: live.clusterId, at: command.data.at } },
      ];
    }
    case 'ReportClusterDisconnected': {
      const at = parseTimestamp(command.data.at, 'report time');
      const reason = assertReason(command.data.reason);
      const live = requireLive(state, command.data.clusterId);
      if (live.status === 'disconnected' || !isNewer(live, at)) return [];
      return [
        {
          type: 'ClusterDisconnected',
          data: { clusterId: live.clusterId, at: command.data.at, reason },
        },
      ];
    }
    case 'RemoveCluster': {
      if (state.status === 'removed') return [];
      const live = requireLive(state, command.data.clusterId);
      return [{ type: 'ClusterRemoved', data: { clusterId: live.clusterId } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown cluster command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireLive(state: ClusterState, clusterId: string): LiveCluster {
  if (state.status === 'empty') throw new DomainError('NotFound', `cluster ${clusterId} not found`);
  if (state.status === 'removed')
    throw new DomainError('NotFound', `cluster ${clusterId} was removed`);
  return state;
}

function known(cluster: LiveCluster): KnownCluster {
  return { clusterId: cluster.clusterId, name: cluster.name, url: cluster.url, link: cluster.link };
}

export function evolveCluster(state: ClusterState, event: ClusterEvent): ClusterState {
  switch (event.type) {
    case 'ClusterRegistered':
      return { status: 'pending', ...event.data };
    case 'ClusterUpdated': {
      if (state.status === 'empty' || state.status === 'removed') return state;
      const relinked = event.data.url !== state.url || event.data.link !== state.link;
      return relinked ? { status: 'pending', ...event.data } : { ...state, name: event.data.name };
    }
    case 'ClusterConnected':
      if (state.status === 'empty' || state.status === 'removed') return state;
      return { status: 'connected', since: event.data.at, ...known(state) };
    case 'ClusterDisconnected':
      if (state.status === 'empty' || state.status === 'removed') return state;
      return {
        status: 'disconnected',
        since: event.data.at,
        reason: event.data.reason,
        ...known(state),
      };
    case 'ClusterRemoved':
      return { status: 'removed', clusterId: event.data.clusterId };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const clusterDecider: Decider<ClusterState, ClusterCommand, ClusterEvent> = {
  decide: decideCluster,
  evolve: evolveCluster,
  initialState: () => ({ status: 'empty' }),
};
