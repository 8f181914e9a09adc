import {
  AGENT_SUBJECT_PREFIX,
  ALL_EVENTS_SUBJECT,
  LOG_READ_SUBJECT,
  RELAY_CHECKPOINT_BUCKET,
  RELAY_LEASE_BUCKET,
} from '../subjects';
import { CredentialsError } from './errors';

/**
 * Who may publish and subscribe to what: every NATS identity's grants, in this one file.
 *
 * Subjects (see the design brief):
 * - commands are request/reply on `strata.<service>.<aggregate>.<verb>`; a service takes its own
 *   (`strata.<service>.>`, in a queue group) and answers on the request's reply subject;
 * - events are published by the relay alone, on `strata.ev.>`; every service and agent reads them;
 * - agents report on `strata.agent.<node>.>` and register and heartbeat through
 *   `strata.config.node.register|heartbeat` (not the rest of `strata.config.node.>`: deleting or
 *   marking a node down is the admin's or a service's business, not an agent's); they answer
 *   status queries on `strata.agent.<node>.status`, which the admin may send;
 * - the log is read over `strata.log.read` (agents catching up, the admin's tools), answered
 *   by the relays, which hold the store.
 *
 * Everything not granted here is refused by the server. Two rules keep the grants tight:
 * - replies go out through `allow_responses` (one reply to a request actually received), never
 *   through a publish grant on `_INBOX.>`;
 * - each identity receives replies on its own inbox prefix (`_INBOX.<identity>.`), so no identity
 *   can read the answers meant for another. Clients must therefore connect with the `inboxPrefix`
 *   that `loadCredentials` returns (the NATS client and NestJS's NATS transport both take it).
 */

export const SERVICES = ['config', 'ipam', 'discovery', 'policy', 'analytics'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The relay (store -> NATS) and the CLI/admin identity. */
export const RELAY = 'relay';
export const ADMIN = 'admin';

/** The KV buckets the relay keeps its lease and its checkpoint in (named in ../subjects). */
const RELAY_BUCKETS = [RELAY_LEASE_BUCKET, RELAY_CHECKPOINT_BUCKET];

const EVENTS = ALL_EVENTS_SUBJECT;
const AGENT_REPORTS = `${AGENT_SUBJECT_PREFIX}.>`;
const AGENT_STATUS_QUERIES = `${AGENT_SUBJECT_PREFIX}.*.status`;
const NODE_COMMANDS = ['strata.config.node.register', 'strata.config.node.heartbeat'];

/** Which other services each service sends commands to: the only cross-service grants. */
const SERVICE_CALLS: Readonly<Record<ServiceName, readonly ServiceName[]>> = {
  config: ['ipam', 'policy'],
  ipam: [],
  discovery: ['ipam'],
  policy: ['ipam'],
  analytics: [],
};

/** Readers of the agents' reports (applied positions, flow counters), beside the admin. */
const AGENT_REPORT_READERS: readonly ServiceName[] = ['analytics'];

/** One identity's grants, as they go into the server's `authorization` block. */
export interface SubjectPermissions {
  /** Subjects it may publish to (NATS wildcards allowed). Nothing else. */
  readonly publish: readonly string[];
  /** Subjects it may subscribe to, with or without a queue group. Nothing else. */
  readonly subscribe: readonly string[];
  /** May answer the requests it receives (server `allow_responses`: one reply per request). */
  readonly respond: boolean;
}

/** Every identity's name: a service, `relay`, `admin`, or `agent-<node>`. */
export type Identity = ServiceName | typeof RELAY | typeof ADMIN | `agent-${string}`;

const AGENT_PREFIX = 'agent-';
// Node names are DNS subdomains (the domain's rule): lowercase labels joined by dots.
const DNS_LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const NODE_NAME = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const MAX_NODE_NAME_LENGTH = 253;

/** The identity of the agent on `node`. Throws CredentialsError for a name that is not valid. */
export function agentIdentity(node: string): Identity {
  assertNodeName(node);
  return `${AGENT_PREFIX}${node}`;
}

/** Returns `value` as an Identity, or throws CredentialsError saying why it is not one. */
export function parseIdentity(value: string): Identity {
  if ((SERVICES as readonly string[]).includes(value) || value === RELAY || value === ADMIN) {
    return value as Identity;
  }
  if (value.startsWith(AGENT_PREFIX)) {
    return agentIdentity(value.slice(AGENT_PREFIX.length));
  }
  throw new CredentialsError(
    'UnknownIdentity',
    `${JSON.stringify(value)} is not an identity: expected one of ${[...SERVICES, RELAY, ADMIN].join(', ')} or agent-<node>`,
  );
}

/** The identities `strata server` creates for a set of nodes: services, relay, admin, agents. */
export function identitiesFor(nodes: readonly string[] = []): Identity[] {
  return [...SERVICES, RELAY, ADMIN, ...nodes.map(agentIdentity)];
}

/**
 * One subject token standing for `identity`: node names may contain dots, which would split it
 * into several tokens (and let `node1` claim `node1.example`'s subjects). Dots become `_`, which no
 * DNS name contains, so the mapping stays one-to-one.
 */
export function subjectToken(identity: Identity): string {
  return identity.replaceAll('.', '_');
}

/** The inbox prefix `identity` receives replies on; pass it as the client's `inboxPrefix`. */
export function inboxPrefix(identity: Identity): string {
  return `_INBOX.${subjectToken(identity)}`;
}

/** The grants of `identity` — the single table every server config is generated from. */
export function permissionsFor(identity: Identity): SubjectPermissions {
  const inbox = `${inboxPrefix(identity)}.>`;
  if (identity === RELAY) {
    return relayPermissions(inbox);
  }
  if (identity === ADMIN) {
    return {
      // Any service's commands, but never events or agent reports: those would be forgeries.
      publish: [...SERVICES.map(commandsOf), AGENT_STATUS_QUERIES, LOG_READ_SUBJECT],
      subscribe: [EVENTS, AGENT_REPORTS, inbox],
      respond: false,
    };
  }
  if (identity.startsWith(AGENT_PREFIX)) {
    const own = `${AGENT_SUBJECT_PREFIX}.${subjectToken(identity).slice(AGENT_PREFIX.length)}`;
    return {
      publish: [`${own}.>`, ...NODE_COMMANDS, LOG_READ_SUBJECT],
      subscribe: [EVENTS, `${own}.status`, inbox],
      respond: true,
    };
  }
  const service = identity as ServiceName;
  return {
    publish: SERVICE_CALLS[service].map(commandsOf),
    subscribe: [
      commandsOf(service),
      EVENTS,
      ...(AGENT_REPORT_READERS.includes(service) ? [AGENT_REPORTS] : []),
      inbox,
    ],
    respond: true,
  };
}

/**
 * The relay publishes events (and its heartbeat, under `strata.ev.`) and keeps its lease and its
 * checkpoint in two KV buckets. Every JetStream grant names one of those buckets' streams
 * (`KV_<bucket>`), so the relay can create, read, write and watch them — and cannot list, change
 * or delete any stream, its own included. The grants are what the client's KV view sends, and no
 * more: open or create a bucket (JetStream info, stream info and create), get a key (direct get by
 * subject), watch a key (an ordered consumer filtered on it) and answer its flow control.
 */
function relayPermissions(inbox: string): SubjectPermissions {
  return {
    publish: [
      EVENTS,
      '$JS.API.INFO',
      ...RELAY_BUCKETS.flatMap((bucket) => {
        const stream = `KV_${bucket}`;
        return [
          `$KV.${bucket}.>`,
          `$JS.API.STREAM.INFO.${stream}`,
          `$JS.API.STREAM.CREATE.${stream}`,
          `$JS.API.DIRECT.GET.${stream}.>`,
          `$JS.API.CONSUMER.CREATE.${stream}.>`,
          `$JS.FC.${stream}.>`,
        ];
      }),
    ],
    // The relays answer log reads (they hold the store).
    subscribe: [LOG_READ_SUBJECT, inbox],
    respond: true,
  };
}

function commandsOf(service: ServiceName): string {
  return `strata.${service}.>`;
}

function assertNodeName(node: string): void {
  if (node.length === 0 || node.length > MAX_NODE_NAME_LENGTH || !NODE_NAME.test(node)) {
    throw new CredentialsError(
      'UnknownIdentity',
      `node name ${JSON.stringify(node)} is not a DNS subdomain (lowercase letters, digits, - and ., at most ${MAX_NODE_NAME_LENGTH} characters)`,
    );
  }
}
