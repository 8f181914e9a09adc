import type {
  EventPropagation,
  NodePropagation,
  PropagationSummary,
  RecentEventPropagation,
  RecentPropagation,
} from '@strata/bus';
import type { AppliedPoints } from './applied-points';
import type { TrackedEvent } from './recent-events';

/**
 * Turning what the tracker holds into replies: pure functions of one event, the nodes and their
 * applied points.
 */

/** A node as the tracker knows it: its liveness from the log, its points from its reports. */
export interface NodeView {
  readonly node: string;
  /** From the node's events: registered and ready, marked down, or unknown to the log. */
  readonly liveness: 'ready' | 'down' | 'unregistered';
  readonly points: AppliedPoints | undefined;
}

/** `event` on each node, nodes in the order given. */
export function eventPropagation(
  event: TrackedEvent,
  nodes: readonly NodeView[],
): EventPropagation {
  const rows = nodes.map((view) => nodePropagation(event, view));
  return {
    eventId: event.id,
    type: event.type,
    stream: event.stream,
    position: event.position,
    recordedAt: new Date(event.recordedAtMs).toISOString(),
    nodes: rows,
    summary: summarize(rows),
  };
}

/** The last events' summaries, and one summary over every (event, node) pair. */
export function recentPropagation(
  events: readonly TrackedEvent[],
  nodes: readonly NodeView[],
): RecentPropagation {
  const lines: RecentEventPropagation[] = [];
  const rows: NodePropagation[] = [];
  for (const event of events) {
    const propagation = eventPropagation(event, nodes);
    const { nodes: eventRows, ...line } = propagation;
    lines.push(line);
    rows.push(...eventRows);
  }
  return { events: lines, summary: { events: events.length, ...summarize(rows) } };
}

export function nodePropagation(event: TrackedEvent, view: NodeView): NodePropagation {
  const appliedAtMs = view.points?.appliedAt(event.position);
  if (appliedAtMs !== undefined) {
    return {
      node: view.node,
      status: 'applied',
      // Date truncates to the millisecond, so appliedAt is never before recordedAt when
      // afterMs is not negative (the store records whole milliseconds).
      appliedAt: new Date(appliedAtMs).toISOString(),
      afterMs: roundMicros(appliedAtMs - event.recordedAtMs),
    };
  }
  return { node: view.node, status: view.liveness === 'down' ? 'down' : 'pending' };
}

/** Counts by status, and percentiles of the applied rows' afterMs. */
export function summarize(rows: readonly NodePropagation[]): PropagationSummary {
  const after: number[] = [];
  let pending = 0;
  let down = 0;
  for (const row of rows) {
    if (row.status === 'applied') after.push(row.afterMs);
    else if (row.status === 'pending') pending++;
    else down++;
  }
  after.sort((a, b) => a - b);
  const empty = after.length === 0;
  return {
    applied: after.length,
    pending,
    down,
    p50Ms: empty ? null : percentile(after, 50),
    p99Ms: empty ? null : percentile(after, 99),
    maxMs: empty ? null : after[after.length - 1],
  };
}

/** The nearest-rank `p`th percentile (0 < p <= 100) of ascending, non-empty `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('no values');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function roundMicros(ms: number): number {
  return Math.round(ms * 1_000) / 1_000;
}
