import { assertDnsSubdomain } from '../net/dns';
import { labelValueProblem } from '../net/labels';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { parseTimestamp, type Timestamp } from '../shared/time';

/**
 * Flow report: what one node's dataplane counted in one interval, per (source identity,
 * destination identity) pair. Stream: `flowreport-<node>`, one per node.
 *
 * Identities are the 16-bit security identities the dataplane stamps in the VXLAN-GBP header.
 * Each counter also carries the tier of both identities as the agent resolved it when it
 * counted (the identity's `tier` label, '' when it has none), so per-tier accounting stays
 * exactly what was true then, however labels change later.
 *
 * Idempotent by node and interval start: the agent may retry a report (same start) as often as
 * it likes and it is counted once. A report for a start already recorded with other counters is
 * AlreadyExists (never counted twice, never silently replaced), and so is an interval that
 * overlaps one already recorded. The state keeps a fingerprint per recorded interval (end,
 * number of pairs, packet and byte totals), which is what a retry is recognised by.
 */
export const flowReportStream = (node: string): string => `flowreport-${node}`;

export const MIN_IDENTITY = 1;
export const MAX_IDENTITY = 65_535;
export const MAX_FLOW_INTERVAL_MS = 3_600_000;
export const MAX_FLOWS_PER_REPORT = 10_000;

export interface FlowCounter {
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
  readonly sourceTier: string;
  readonly destinationTier: string;
  readonly packets: number;
  readonly bytes: number;
}

export type FlowsReported = Event<
  'FlowsReported',
  {
    node: string;
    intervalStart: Timestamp;
    intervalEnd: Timestamp;
    /** Sorted by source, then destination identity; each pair once. */
    flows: readonly FlowCounter[];
  }
>;
export type FlowReportEvent = FlowsReported;

/** As a command gives a counter: tiers default to '' (none). */
export interface FlowCounterInput {
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
  readonly sourceTier?: string;
  readonly destinationTier?: string;
  readonly packets: number;
  readonly bytes: number;
}

export type ReportFlows = Command<
  'ReportFlows',
  {
    node: string;
    /** Inclusive. */
    intervalStart: Timestamp;
    /** Exclusive; after the start, at most MAX_FLOW_INTERVAL_MS later. */
    intervalEnd: Timestamp;
    flows: readonly FlowCounterInput[];
  }
>;
export type FlowReportCommand = ReportFlows;

/** What a recorded interval is recognised by when it is reported again. */
export interface IntervalFingerprint {
  readonly start: number;
  readonly end: number;
  readonly flows: number;
  readonly packets: number;
  readonly bytes: number;
}

export type FlowReportState =
  | { status: 'empty' }
  | {
      status: 'reporting';
      node: string;
      /** Every recorded interval, sorted by start. */
      intervals: readonly IntervalFingerprint[];
    };

function assertIdentity(value: unknown, what: string): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_IDENTITY ||
    value > MAX_IDENTITY
  ) {
    throw new DomainError(
      'InvalidArgument',
      `${what} must be an identity ${MIN_IDENTITY}-${MAX_IDENTITY}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function assertCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new DomainError(
      'InvalidArgument',
      `${what} must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function assertTier(value: unknown, what: string): string {
  const tier = value ?? '';
  const problem = typeof tier === 'string' ? labelValueProblem(tier) : 'must be a string';
  if (problem !== undefined) {
    throw new DomainError('InvalidLabels', `${what} (a label value) ${problem}`);
  }
  return tier as string;
}

/** Validates counters; returns them sorted by identity pair. */
export function parseFlows(value: unknown): FlowCounter[] {
  if (!Array.isArray(value) || value.length > MAX_FLOWS_PER_REPORT) {
    throw new DomainError(
      'InvalidArgument',
      `flows must be a list of at most ${MAX_FLOWS_PER_REPORT} counters`,
    );
  }
  const flows = value.map((item: Partial<FlowCounterInput> | null, i): FlowCounter => {
    const what = `flow ${i + 1}`;
    return {
      sourceIdentity: assertIdentity(item?.sourceIdentity, `${what} source identity`),
      destinationIdentity: assertIdentity(
        item?.destinationIdentity,
        `${what} destination identity`,
      ),
      sourceTier: assertTier(item?.sourceTier, `${what} source tier`),
      destinationTier: assertTier(item?.destinationTier, `${what} destination tier`),
      packets: assertCount(item?.packets, `${what} packets`),
      bytes: assertCount(item?.bytes, `${what} bytes`),
    };
  });
  flows.sort(
    (a, b) => a.sourceIdentity - b.sourceIdentity || a.destinationIdentity - b.destinationIdentity,
  );
  for (let i = 1; i < flows.length; i++) {
    const [a, b] = [flows[i - 1], flows[i]];
    if (a.sourceIdentity === b.sourceIdentity && a.destinationIdentity === b.destinationIdentity) {
      throw new DomainError(
        'InvalidArgument',
        `identity pair ${a.sourceIdentity}->${a.destinationIdentity} is counted twice`,
      );
    }
  }
  return flows;
}

export function fingerprintOf(data: FlowsReported['data']): IntervalFingerprint {
  return {
    start: parseTimestamp(data.intervalStart, 'interval start'),
    end: parseTimestamp(data.intervalEnd, 'interval end'),
    flows: data.flows.length,
    packets: data.flows.reduce((sum, flow) => sum + flow.packets, 0),
    bytes: data.flows.reduce((sum, flow) => sum + flow.bytes, 0),
  };
}

const sameFingerprint = (a: IntervalFingerprint, b: IntervalFingerprint): boolean =>
  a.start === b.start &&
  a.end === b.end &&
  a.flows === b.flows &&
  a.packets === b.packets &&
  a.bytes === b.bytes;

export function decideFlowReport(
  command: FlowReportCommand,
  state: FlowReportState,
): FlowReportEvent[] {
  switch (command.type) {
    case 'ReportFlows': {
      const node = assertDnsSubdomain(command.data.node, 'node name');
      const start = parseTimestamp(command.data.intervalStart, 'interval start');
      const end = parseTimestamp(command.data.intervalEnd, 'interval end');
      if (end <= start || end - start > MAX_FLOW_INTERVAL_MS) {
        throw new DomainError(
          'InvalidArgument',
          `the interval must end after it starts and last at most ${MAX_FLOW_INTERVAL_MS} ms`,
        );
      }
      if (state.status === 'reporting' && state.node !== node) {
        throw new DomainError(
          'InvalidArgument',
          `stream of node ${state.node} cannot take a report for ${node}`,
        );
      }
      const data = {
        node,
        intervalStart: command.data.intervalStart,
        intervalEnd: command.data.intervalEnd,
        flows: parseFlows(command.data.flows),
      };
      const fingerprint = fingerprintOf(data);
      const intervals = state.status === 'reporting' ? state.intervals : [];
      const same = intervals.find((interval) => interval.start === start);
      if (same !== undefined) {
        if (sameFingerprint(same, fingerprint)) return [];
        throw new DomainError(
          'AlreadyExists',
          `node ${node} already reported the interval starting ${command.data.intervalStart} with other counters`,
        );
      }
      if (intervals.some((interval) => interval.start < end && start < interval.end)) {
        throw new DomainError(
          'AlreadyExists',
          `the interval ${command.data.intervalStart} - ${command.data.intervalEnd} overlaps one node ${node} already reported`,
        );
      }
      return [{ type: 'FlowsReported', data }];
    }
    default: {
      const _exhaustive: never = command.type;
      throw new DomainError(
        'InvalidArgument',
        `unknown flow report command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

export function evolveFlowReport(state: FlowReportState, event: FlowReportEvent): FlowReportState {
  switch (event.type) {
    case 'FlowsReported': {
      const fingerprint = fingerprintOf(event.data);
      const intervals = state.status === 'reporting' ? state.intervals : [];
      const at = intervals.findIndex((interval) => interval.start > fingerprint.start);
      return {
        status: 'reporting',
        node: event.data.node,
        intervals:
          at < 0
            ? [...intervals, fingerprint]
            : [...intervals.slice(0, at), fingerprint, ...intervals.slice(at)],
      };
    }
    default: {
      const _exhaustive: never = event.type;
      void _exhaustive;
      return state;
    }
  }
}

export const flowReportDecider: Decider<FlowReportState, FlowReportCommand, FlowReportEvent> = {
  decide: decideFlowReport,
  evolve: evolveFlowReport,
  initialState: () => ({ status: 'empty' }),
};
