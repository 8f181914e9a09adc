import {
  HEARTBEAT_RESOLUTION_MS,
  heartbeatResolution,
  MAX_HEARTBEAT_RESOLUTION_MS,
  MIN_HEARTBEAT_RESOLUTION_MS,
  parseTimestamp,
  type NodeState,
  type Timestamp,
} from '@strata/domain';
import type { Clock } from '../shared/clock';
import { ConfigStartError } from '../shared/start-error';

/**
 * Node liveness in the config service: how heartbeats are recorded and when a silent node is
 * marked down. The rules (see the service's README, "Node liveness"):
 *
 * - A heartbeat is recorded in the log at most once per node per `resolutionMs`, so while a node
 *   is alive its last *recorded* heartbeat may be up to resolution + the agent's beat interval
 *   old. The timeout must exceed that; the domain enforces timeout > resolution.
 * - A replica marks a node down when the node is ready, its last recorded heartbeat is at least
 *   `timeoutMs` old by the replica's clock, *and* the replica itself has not accepted a heartbeat
 *   (or registration) from it within `timeoutMs`: heartbeats the log absorbed (within the
 *   resolution) still count on the replica that received them.
 * - A replica judges nobody during its first `timeoutMs` of watching (its start, and again after
 *   its NATS connection comes back): see `nodesToMarkDown`.
 */
export interface NodeLivenessSettings {
  /** A node silent this long is marked down; 0 turns the watchdog off. Default 40 s. */
  readonly timeoutMs: number;
  /** A node's heartbeats are recorded at most once per this period. Default 10 s. */
  readonly resolutionMs: number;
  /** How often the watchdog looks for silent nodes. Default 1 s. */
  readonly checkIntervalMs: number;
}

export const DEFAULT_NODE_LIVENESS: NodeLivenessSettings = {
  timeoutMs: 40_000,
  resolutionMs: HEARTBEAT_RESOLUTION_MS,
  checkIntervalMs: 1_000,
};

/** The largest timeout: the mark-down request's own bound (24 h). */
export const MAX_NODE_TIMEOUT_MS = 86_400_000;
const MIN_CHECK_INTERVAL_MS = 10;
const MAX_CHECK_INTERVAL_MS = 3_600_000;

/**
 * The settings with defaults for what `given` leaves out, checked: a resolution of 100 ms to
 * 1 h, a timeout of 0 (off) or above the resolution (at most 24 h), a check interval of 10 ms to
 * 1 h. Throws ConfigStartError (InvalidArgument) naming the flag.
 */
export function nodeLivenessSettings(
  given: Partial<NodeLivenessSettings> = {},
): NodeLivenessSettings {
  const settings = { ...DEFAULT_NODE_LIVENESS, ...withoutUndefined(given) };
  const { timeoutMs, resolutionMs, checkIntervalMs } = settings;
  try {
    heartbeatResolution(resolutionMs);
  } catch {
    throw invalid(
      '--heartbeat-resolution-ms',
      `an integer from ${MIN_HEARTBEAT_RESOLUTION_MS} to ${MAX_HEARTBEAT_RESOLUTION_MS}`,
      resolutionMs,
    );
  }
  if (
    !Number.isInteger(timeoutMs) ||
    (timeoutMs !== 0 && (timeoutMs <= resolutionMs || timeoutMs > MAX_NODE_TIMEOUT_MS))
  ) {
    throw invalid(
      '--node-timeout-ms',
      `0 (no watchdog) or an integer above the heartbeat resolution (${resolutionMs}) and at ` +
        `most ${MAX_NODE_TIMEOUT_MS}`,
      timeoutMs,
    );
  }
  if (
    !Number.isInteger(checkIntervalMs) ||
    checkIntervalMs < MIN_CHECK_INTERVAL_MS ||
    checkIntervalMs > MAX_CHECK_INTERVAL_MS
  ) {
    throw invalid(
      '--liveness-check-ms',
      `an integer from ${MIN_CHECK_INTERVAL_MS} to ${MAX_CHECK_INTERVAL_MS}`,
      checkIntervalMs,
    );
  }
  return settings;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, field]) => field !== undefined),
  ) as Partial<T>;
}

function invalid(flag: string, expected: string, got: unknown): ConfigStartError {
  return new ConfigStartError(
    `${flag} must be ${expected} (milliseconds), got ${JSON.stringify(got)}`,
    'InvalidArgument',
  );
}

/**
 * What one replica knows of node liveness beyond the log: the settings, and when it last
 * accepted a heartbeat or registration from each node, by its own clock. One instance per
 * replica, shared by the node routes of both transports and by the watchdog. Memory only: a
 * restarted replica knows nothing here, hence its grace period.
 */
export class NodeLiveness {
  private readonly heard = new Map<string, number>();

  constructor(
    readonly settings: NodeLivenessSettings,
    private readonly clock: Clock,
  ) {}

  /** The replica accepted a heartbeat or a registration from node `name` just now. */
  heardFrom(name: string): void {
    this.heard.set(name, this.clock.millis());
  }

  /**
   * When the replica last heard from each node, for the nodes it heard from within the timeout
   * before `nowMs` (older entries are dropped: they can no longer keep a node up).
   */
  heardSince(nowMs: number): ReadonlyMap<string, number> {
    for (const [name, at] of this.heard) {
      if (nowMs - at >= this.settings.timeoutMs) this.heard.delete(name);
    }
    return this.heard;
  }
}

/** What the watchdog needs of a node in the read model. */
export type WatchedNode = Pick<
  Extract<NodeState, { status: 'ready' | 'down' }>,
  'name' | 'status' | 'lastHeartbeatAt'
>;

export interface LivenessJudgement {
  /** The replica's clock, ms since the epoch. */
  readonly nowMs: number;
  /** Since when the replica has watched: its start, or its NATS connection's last return. */
  readonly watchingSinceMs: number;
  readonly timeoutMs: number;
  /** When the replica last heard from nodes (NodeLiveness.heardSince). */
  readonly heardAt: ReadonlyMap<string, number>;
}

/**
 * The nodes to mark down, in the order given: ready ones whose last recorded heartbeat is at
 * least `timeoutMs` old and that the replica has not heard from within `timeoutMs`. None during
 * the grace period, the first `timeoutMs` after `watchingSinceMs`: a replica that has just
 * started (or reconnected) may have missed heartbeats, and after an outage of the whole control
 * plane every recorded heartbeat is old while the agents are fine; each live agent gets one
 * full timeout to beat again before anyone is judged.
 */
export function nodesToMarkDown(
  nodes: readonly WatchedNode[],
  judgement: LivenessJudgement,
): string[] {
  const { nowMs, timeoutMs, heardAt } = judgement;
  if (inGracePeriod(judgement)) return [];
  return nodes
    .filter((node) => {
      if (node.status !== 'ready') return false;
      if (nowMs - millis(node.lastHeartbeatAt) < timeoutMs) return false;
      const heard = heardAt.get(node.name);
      return heard === undefined || nowMs - heard >= timeoutMs;
    })
    .map((node) => node.name);
}

/** Within the first `timeoutMs` after `watchingSinceMs`: nobody is judged yet. */
export function inGracePeriod(
  judgement: Pick<LivenessJudgement, 'nowMs' | 'watchingSinceMs' | 'timeoutMs'>,
): boolean {
  return judgement.nowMs - judgement.watchingSinceMs < judgement.timeoutMs;
}

function millis(at: Timestamp): number {
  return parseTimestamp(at, 'last heartbeat');
}
