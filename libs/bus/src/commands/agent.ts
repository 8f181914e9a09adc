import {
  array,
  integer,
  number,
  object,
  string,
  ValidationError,
  type Infer,
  type Schema,
} from './schema';

/**
 * What node agents say on the bus (the subjects are in ../subjects: agentSubject).
 *
 * `strata.agent.<node>.applied` — published by the agent after it wrote changes to its
 * dataplane: `points` lists (position, appliedAtMs) pairs, each meaning "every event at or
 * below this position is in my dataplane since this time" (wall clock, ms since the epoch,
 * fractional). Pairs are in increasing position order; an agent batches them (every ~100 ms),
 * so fan-in to the readers stays at a few messages per second per node, while the time of each
 * change stays exact: an event's applied time on a node is the time of the first point at or
 * above its position.
 *
 * `strata.agent.<node>.status` — a request (empty body) answered with AgentStatus.
 */

const position = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const point: Schema<[number, number]> = {
  parse(value, path) {
    if (!Array.isArray(value) || value.length !== 2) {
      throw new ValidationError('InvalidRequest', `${path} must be a [position, time] pair`, path);
    }
    return [position.parse(value[0], `${path}[0]`), number().parse(value[1], `${path}[1]`)];
  },
};

/** Most points one report carries; an agent that has more sends several reports. */
export const MAX_APPLIED_POINTS = 4_096;

export const appliedReport = object({
  node: string({ minLength: 1, maxLength: 253 }),
  /** The dense bus sequence of the last applied event (its index in the global log). */
  seq: position,
  points: array(point, { maxItems: MAX_APPLIED_POINTS }),
});
export type AppliedReport = Infer<typeof appliedReport>;

/** An agent's answer to a status query. */
export interface AgentStatus {
  readonly node: string;
  readonly registered: boolean;
  /** Log position folded into the desired state, and the one written to the dataplane. */
  readonly position: number;
  readonly seq: number;
  readonly appliedPosition: number;
  /** Canonical digest of the desired tables and of what the dataplane holds (equal when in sync). */
  readonly desiredDigest: string;
  readonly appliedDigest: string;
  readonly tables: {
    readonly local: number;
    readonly remote: number;
    readonly vteps: number;
    /** Rows of the policy tables (docs/policy.md); absent from agents that predate them. */
    readonly policy?: number;
    readonly prefixes?: number;
    readonly rules?: number;
  };
  readonly dataplane: string;
  readonly fold: Readonly<Record<string, number>>;
  readonly reader: Readonly<Record<string, number>>;
  readonly reconcile: Readonly<Record<string, number>>;
  readonly propagation: {
    readonly count: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
  /** Where the agent resumed from at start: a checkpoint's position, or 0. */
  readonly resumedFrom: number;
  /** The BPF dataplane's counters; absent for other dataplanes. */
  readonly counters?: AgentDataplaneCounters;
  /**
   * Policy verdicts the BPF dataplane counted, per rule id (sorted); absent for other
   * dataplanes. Rule 0 (nothing decided: end of tiers) and 1 (application-tier isolation) have
   * no policy; a rule the node's `rules` table no longer names has nulls.
   */
  readonly policyRules?: readonly AgentPolicyRuleCounters[];
}

export interface Count {
  readonly packets: number;
  readonly bytes: number;
}

export interface AgentPolicyRuleCounters {
  readonly rule: number;
  readonly policyId: string | null;
  readonly tier: string | null;
  readonly direction: string | null;
  readonly index: number | null;
  /** Enforced verdicts. */
  readonly allowed: Count;
  readonly denied: Count;
  /** Where the staged verdict differs: allowed, but staged policies would deny (counted under
   * the staged rule), and denied, but staged policies would allow. */
  readonly stagedWouldDeny: Count;
  readonly stagedWouldAllow: Count;
}

/**
 * Packets the BPF programs counted since their maps were created, summed over CPUs; counters at
 * zero are left out. Names are those of dataplane/bpf/lib/maps.h (`spoofed_ip`, `encapsulated`).
 */
export interface AgentDataplaneCounters {
  /** Dropped packets by reason. */
  readonly drops: Readonly<Record<string, number>>;
  /** Every other outcome: forwarded, encapsulated, passed to the kernel, ... */
  readonly stats: Readonly<Record<string, number>>;
  /** Forwarded packets and bytes per (source identity, destination identity, direction). */
  readonly traffic: ReadonlyArray<{
    readonly srcIdentity: number;
    readonly dstIdentity: number;
    readonly direction: string;
    readonly packets: number;
    readonly bytes: number;
  }>;
}
