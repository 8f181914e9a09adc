import {
  assertDnsSubdomain,
  MAX_FLOWS_PER_REPORT,
  parseTimestamp,
  type Timestamp,
} from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec } from './protocol';
import { array, integer, object, optional, refine, string, type Infer } from './schema';

/**
 * The analytics service's contract: node agents report flow counters per interval, and
 * summaries are read back per tier pair and identity pair over a time window. Node names and
 * times are checked with the domain's validators (InvalidName / InvalidTimestamp); identities,
 * counters and intervals by the FlowReport aggregate (InvalidArgument).
 */

const subject = (verb: string) => commandSubject('analytics', 'flow', verb);
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

export type ReportFlowsRequest = Infer<typeof reportFlows>;
export type FlowSummaryRequest = Infer<typeof summary>;

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

export const ANALYTICS = {
  reportFlows: commandSpec<ReportFlowsRequest, FlowReportReceipt>(subject('report'), reportFlows),
  flowSummary: commandSpec<FlowSummaryRequest, FlowSummary>(subject('summary'), summary),
} as const;
