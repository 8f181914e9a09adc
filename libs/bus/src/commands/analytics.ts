import {
  assertDnsSubdomain,
  MAX_FLOWS_PER_REPORT,
  parseTimestamp,
  type Timestamp,
} from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec } from './protocol';
import {
  array,
  integer,
  object,
  optional,
  refine,
  string,
  ValidationError,
  type Infer,
} from './schema';

/**
 * The analytics service's contract: node agents report flow counters per interval, and
 * summaries are read back per tier pair and identity pair over a time window. Node names and
 * times are checked with the domain's validators (InvalidName / InvalidTimestamp); identities,
 * counters and intervals by the FlowReport aggregate (InvalidArgument).
 *
 * Propagation: when each node applied an event (from the agents' `strata.agent.<node>.applied`
 * reports, see ./agent.ts), by event id (`strata.analytics.propagation.get`), and for the last
 * events of the log (`strata.analytics.propagation.recent`). Error codes: `NotFound` (no such
 * event in the log), `NotTracked` (an event the replica has no applied times for: older than
 * its window, or appended before it began following the agents' reports).
 */

const subject = (verb: string) => commandSubject('analytics', 'flow', verb);
const propagationSubject = (verb: string) => commandSubject('analytics', 'propagation', verb);
const node = refine(string({ maxLength: 512 }), (value) => assertDnsSubdomain(value, 'node name'));
const timestamp = (what: string) =>
  refine(string({ maxLength: 64 }), (value): Timestamp => {
    parseTimestamp(value, what);
    return value;
  });
const counter = object({
  sourceIdentity: integer(),
  destinationIdentity: integer(),
  sourceTier: optional(string({ maxLength: 63 })),
  destinationTier: optional(string({ maxLength: 63 })),
  packets: integer(),
  bytes: integer(),
});

const reportFlows = object({
  node,
  intervalStart: timestamp('interval start'),
  intervalEnd: timestamp('interval end'),
  flows: array(counter, { maxItems: MAX_FLOWS_PER_REPORT }),
});
const summary = object({
  /** Inclusive. */
  from: timestamp('window start'),
  /** Exclusive. */
  to: timestamp('window end'),
  node: optional(node),
});

// Event ids as the event store takes them: printable ASCII without spaces, 1-128 characters.
const EVENT_ID = /^[\x21-\x7e]+$/;
const MAX_EVENT_ID_LENGTH = 128;
const eventId = refine(string({ minLength: 1, maxLength: MAX_EVENT_ID_LENGTH }), (value, path) => {
  if (!EVENT_ID.test(value)) {
    throw new ValidationError(
      'InvalidRequest',
      `${path} must be an event id: printable ASCII without spaces`,
      path,
    );
  }
  return value;
});

/** Most events one `propagation.recent` query covers. */
export const MAX_RECENT_PROPAGATION = 1_000;

const propagationGet = object({ eventId });
const propagationRecent = object({
  /** The last `last` tracked events of the log (1 to MAX_RECENT_PROPAGATION). */
  last: integer({ min: 1, max: MAX_RECENT_PROPAGATION }),
});

export type ReportFlowsRequest = Infer<typeof reportFlows>;
export type FlowSummaryRequest = Infer<typeof summary>;
export type PropagationRequest = Infer<typeof propagationGet>;
export type RecentPropagationRequest = Infer<typeof propagationRecent>;

export interface FlowReportReceipt {
  readonly node: string;
  readonly intervalStart: Timestamp;
  readonly intervalEnd: Timestamp;
  readonly flows: number;
  /** False when this interval had been recorded already (a retry): nothing was added. */
  readonly recorded: boolean;
}

export interface TierPairTotal {
  readonly sourceTier: string;
  readonly destinationTier: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface IdentityPairTotal {
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
  readonly packets: number;
  readonly bytes: number;
}

/**
 * Totals of the reports whose interval starts in [from, to): an interval's counters are not
 * split, so choose windows on interval boundaries.
 */
export interface FlowSummary {
  readonly from: Timestamp;
  readonly to: Timestamp;
  /** '' for every node. */
  readonly node: string;
  readonly reports: number;
  readonly packets: number;
  readonly bytes: number;
  /** Sorted by source, then destination tier. */
  readonly tierPairs: readonly TierPairTotal[];
  /** Sorted by source, then destination identity. */
  readonly identityPairs: readonly IdentityPairTotal[];
}

/**
 * One node's view of one event. `applied`: the node's dataplane holds it since `appliedAt` (the
 * agent's clock), `afterMs` after it was recorded (the store's clock: on one host the
 * propagation time; across hosts it includes the offset between their clocks, and can even be
 * negative). `pending`: not applied yet. `down`: not applied, and the node is marked down.
 */
export type NodePropagation =
  | {
      readonly node: string;
      readonly status: 'applied';
      readonly appliedAt: Timestamp;
      readonly afterMs: number;
    }
  | { readonly node: string; readonly status: 'pending' }
  | { readonly node: string; readonly status: 'down' };

export interface PropagationSummary {
  readonly applied: number;
  readonly pending: number;
  readonly down: number;
  /** Of `afterMs` over the nodes that applied (nearest rank); null when none has. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/** The event and where it stands on each node. */
export interface EventPropagation {
  readonly eventId: string;
  readonly type: string;
  readonly stream: string;
  readonly position: number;
  readonly recordedAt: Timestamp;
  /**
   * Every registered node (ready or down) and every node that reports applied positions,
   * sorted by name. A deregistered node drops out.
   */
  readonly nodes: readonly NodePropagation[];
  readonly summary: PropagationSummary;
}

/** One event of a `propagation.recent` reply: its summary without the per-node rows. */
export interface RecentEventPropagation {
  readonly eventId: string;
  readonly type: string;
  readonly stream: string;
  readonly position: number;
  readonly recordedAt: Timestamp;
  readonly summary: PropagationSummary;
}

export interface RecentPropagation {
  /** The last tracked events, oldest first (fewer than asked when fewer are tracked). */
  readonly events: readonly RecentEventPropagation[];
  /** Over every (event, node) pair: counts, and percentiles of the applied ones' `afterMs`. */
  readonly summary: PropagationSummary & { readonly events: number };
}

export const ANALYTICS = {
  reportFlows: commandSpec<ReportFlowsRequest, FlowReportReceipt>(subject('report'), reportFlows),
  flowSummary: commandSpec<FlowSummaryRequest, FlowSummary>(subject('summary'), summary),
  propagation: commandSpec<PropagationRequest, EventPropagation>(
    propagationSubject('get'),
    propagationGet,
  ),
  recentPropagation: commandSpec<RecentPropagationRequest, RecentPropagation>(
    propagationSubject('recent'),
    propagationRecent,
  ),
} as const;
