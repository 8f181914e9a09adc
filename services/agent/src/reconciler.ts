import {
  applyDeltaInPlace,
  copyTables,
  deltaSize,
  diff,
  diffChanged,
  emptyTables,
  type ForwardingState,
  type ForwardingTables,
  type MutableTables,
} from '@strata/forwarding';
import { writeDelta, type DataplaneOperations } from './dataplane';

export interface ReconcilerOptions {
  readonly state: ForwardingState;
  readonly dataplane: DataplaneOperations;
  /** Every log position at or below `position` is in the dataplane since `atMs`. */
  readonly onApplied: (position: number, atMs: number) => void;
  readonly now: () => number;
  /** Wait before retrying after the dataplane refused a write. Default 200 ms. */
  readonly retryDelayMs?: number;
  readonly onWarning?: (error: Error) => void;
}

/**
 * The delta tracker: holds what the agent wrote to the dataplane (`applied`) beside what the
 * fold wants (`desired`) and writes only the difference.
 *
 * A flush takes the keys the fold touched since the last one (ForwardingState.takeChanges),
 * compares just those, writes the updates and deletes through the Operations interface, and then
 * reports the fold's position as applied. Flushes never overlap: changes folded while one runs
 * wait for the next, which starts as soon as it ends. A resync (at start, periodically, and
 * after any failed write) reads the real dataplane instead of trusting the mirror and writes the
 * full diff: drift, a failed write or a restart's stale entries are repaired, while entries that
 * are already right are not touched (a restarted agent does not disturb traffic).
 */
export class Reconciler {
  readonly stats = {
    flushes: 0,
    updates: 0,
    deletes: 0,
    resyncs: 0,
    /** Entries a resync found wrong in the dataplane (missing, different or stale). */
    drift: 0,
    failures: 0,
  };
  private applied: MutableTables = emptyTables();
  private position = 0;
  private resyncNeeded = true;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ReconcilerOptions) {}

  /** The highest position written to the dataplane. */
  get appliedPosition(): number {
    return this.position;
  }

  /** What the agent believes the dataplane holds (read-only view). */
  get appliedTables(): ForwardingTables {
    return this.applied;
  }

  /** Flushes soon (once the current turn's events are folded); returns at once. */
  schedule(): void {
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.run());
  }

  /** The next flush re-reads the dataplane and writes the full difference. */
  requestResync(): void {
    this.resyncNeeded = true;
    this.schedule();
  }

  /** Runs a flush now (after any in progress) and waits for it. */
  async flush(): Promise<void> {
    while (this.running !== undefined) await this.running;
    this.running = this.run();
    await this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  private async run(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.flushOnce();
      } while (this.again && !this.closed);
    } finally {
      this.running = undefined;
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.closed) return;
    const { state, dataplane } = this.options;
    const position = state.position;
    const resync = this.resyncNeeded;
    try {
      let delta;
      if (resync) {
        state.takeChanges(); // the full diff below covers them
        this.applied = copyTables(await dataplane.read());
        delta = diff(state.tables, this.applied);
      } else {
        delta = diffChanged(state.tables, this.applied, state.takeChanges());
      }
      const size = deltaSize(delta);
      if (size.updates + size.deletes > 0) {
        await writeDelta(dataplane, delta);
        applyDeltaInPlace(this.applied, delta);
      }
      this.stats.flushes++;
      this.stats.updates += size.updates;
      this.stats.deletes += size.deletes;
      if (resync) {
        this.stats.resyncs++;
        this.stats.drift += size.updates + size.deletes;
        this.resyncNeeded = false;
      }
    } catch (error) {
      // What the dataplane holds is unknown now: read it back before the next write.
      this.stats.failures++;
      this.resyncNeeded = true;
      this.options.onWarning?.(
        new Error(`dataplane ${dataplane.kind}: ${(error as Error).message}`, { cause: error }),
      );
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.schedule(), this.options.retryDelayMs ?? 200);
      return;
    }
    if (position > this.position) {
      this.position = position;
      this.options.onApplied(position, this.options.now());
    }
  }
}
