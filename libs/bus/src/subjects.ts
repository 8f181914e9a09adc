import { parseStreamName } from '@strata/eventstore';

/**
 * Every NATS subject and KV bucket name Strata uses, in one place. Subjects are dotted and
 * wildcard-friendly:
 * - events:   `strata.ev.<category>.<id>` — one per stream (`<category>-<id>`), published by the
 *   relay. Stream ids may contain dots, so an id can span several tokens: subscribe to a
 *   category with `strata.ev.<category>.>`, never `.*`.
 * - relay heartbeat: `strata.ev.$heartbeat` — under `strata.ev.>` so a reader of every event
 *   receives it on the same subscription, in order after the events it reports. `$` can never
 *   start a category, so it cannot collide with a stream.
 * - commands: `strata.<service>.<aggregate>.<verb>` — request/reply to a service.
 */

export const SUBJECT_ROOT = 'strata';

/** Prefix of every event subject. */
export const EVENT_SUBJECT_PREFIX = `${SUBJECT_ROOT}.ev`;

/** Every event of every category, and the relay heartbeat. */
export const ALL_EVENTS_SUBJECT = `${EVENT_SUBJECT_PREFIX}.>`;

/** The relay's heartbeat: the last sequence and position it published. */
export const RELAY_HEARTBEAT_SUBJECT = `${EVENT_SUBJECT_PREFIX}.$heartbeat`;

/** JetStream KV bucket holding the relay lease (its TTL is the lease's). */
export const RELAY_LEASE_BUCKET = 'strata_relay';

/**
 * JetStream KV bucket holding the relay checkpoint (last published position and sequence).
 * Separate from the lease bucket because that one's TTL would expire the checkpoint together
 * with the lease of a relay that died.
 */
export const RELAY_CHECKPOINT_BUCKET = 'strata_relay_checkpoint';

/** `strata.ev.<category>.<id>` for a valid stream name; throws InvalidStreamName otherwise. */
export function eventSubject(stream: string): string {
  const { category, id } = parseStreamName(stream);
  return `${EVENT_SUBJECT_PREFIX}.${category}.${id}`;
}

/** Every event of one category: `strata.ev.<category>.>`. */
export function categorySubject(category: string): string {
  return `${EVENT_SUBJECT_PREFIX}.${subjectToken(category, 'category')}.>`;
}

/** A command subject, `strata.<service>.<aggregate>.<verb>` (e.g. `strata.ipam.pool.allocate`). */
export function commandSubject(service: string, aggregate: string, verb: string): string {
  if (service === 'ev') {
    throw new TypeError('"ev" is not a service name: strata.ev.> carries the events');
  }
  return [
    SUBJECT_ROOT,
    subjectToken(service, 'service'),
    subjectToken(aggregate, 'aggregate'),
    subjectToken(verb, 'verb'),
  ].join('.');
}

const TOKEN = /^[a-z][a-z0-9_-]{0,63}$/;

function subjectToken(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new TypeError(
      `invalid ${what} ${JSON.stringify(value)} for a subject: expected a lowercase word (a-z, 0-9, _ -)`,
    );
  }
  return value;
}

/**
 * Reads of the global log over NATS, for processes without a store of their own (agents):
 * request `{ after, until?, maxEvents? }`, reply a page of events. Served by the relays, in a
 * queue group, so catch-up load spreads over them.
 */
export const LOG_READ_SUBJECT = `${SUBJECT_ROOT}.log.read`;

/** Prefix of every agent subject: `strata.agent.<node token>.<verb>`. */
export const AGENT_SUBJECT_PREFIX = `${SUBJECT_ROOT}.agent`;

/**
 * One subject token for a node name. Node names are DNS subdomains and may contain dots, which
 * would split them into several tokens (and let `node1` claim `node1.example`'s subjects); dots
 * become `_`, which no DNS name contains, so the mapping is one-to-one.
 */
export function nodeToken(node: string): string {
  return node.replaceAll('.', '_');
}

/** The node name a token stands for (the inverse of nodeToken). */
export function nodeFromToken(token: string): string {
  return token.replaceAll('_', '.');
}

/**
 * An agent's subjects: it publishes `applied` reports (what it has written to its dataplane, up
 * to which position, when) and answers `status` queries.
 */
export function agentSubject(node: string, verb: 'applied' | 'status'): string {
  return `${AGENT_SUBJECT_PREFIX}.${nodeToken(node)}.${verb}`;
}

/** Every agent's applied reports: `strata.agent.*.applied`. */
export const ALL_AGENT_APPLIED_SUBJECT = `${AGENT_SUBJECT_PREFIX}.*.applied`;
