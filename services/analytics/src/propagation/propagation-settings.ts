/** How much the tracker keeps; see DEFAULT_PROPAGATION_SETTINGS. */
export interface PropagationSettings {
  /**
   * The last `window` events of the log are answered for, and each node's last `window`
   * applied points are kept. One number for both: a node's points then always reach back past
   * the oldest event of the window (each point is at a distinct event position), so no answer
   * in the window is ever late because a point was dropped.
   */
  readonly window: number;
  /** Nodes whose points are kept; reports from more nodes are refused (and counted). */
  readonly maxNodes: number;
  /** Size in bits (a power of two) of the filter of ids that left the window. */
  readonly evictedFilterBits: number;
}

/**
 * 200,000 events and points per node; 10,000 nodes; a 4 MiB filter (1% false "older than the
 * window" answers for an unknown id after about 3.5 million events have left the window).
 * Memory: about 280 bytes an event of the window (55 MB) and at most 16 bytes a point per node
 * (3.2 MB for a node with a full window; a node that applies in batches holds far fewer).
 */
export const DEFAULT_PROPAGATION_SETTINGS: PropagationSettings = {
  window: 200_000,
  maxNodes: 10_000,
  evictedFilterBits: 1 << 25,
};

/** Settings over the defaults; a bad value is a RangeError. */
export function propagationSettings(given: Partial<PropagationSettings> = {}): PropagationSettings {
  const settings = { ...DEFAULT_PROPAGATION_SETTINGS };
  for (const [key, value] of Object.entries(given) as [keyof PropagationSettings, unknown][]) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`propagation ${key} must be a positive integer, got ${String(value)}`);
    }
    settings[key] = value;
  }
  const bits = settings.evictedFilterBits;
  if (bits < 32 || (bits & (bits - 1)) !== 0 || bits > 2 ** 30) {
    throw new RangeError(
      `propagation evictedFilterBits must be a power of two, 32 to 2^30, got ${bits}`,
    );
  }
  return settings;
}
