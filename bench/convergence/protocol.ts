import type { BusCheckpoint } from '@strata/bus';

/** What the benchmark's main thread and its agent workers say to each other. */

export interface WorkerSetup {
  readonly natsUrl: string;
  /** The agents this worker runs, by node name. */
  readonly nodes: readonly string[];
  /** A snapshot of the fold at `bus` (for some node; each agent restores it as its own). */
  readonly snapshotJson: string;
  readonly bus: BusCheckpoint;
}

export type ToWorker = { readonly kind: 'stop' };

export type FromWorker =
  | {
      readonly kind: 'ready';
      /** Heap growth for this worker's agents, bytes (after GC), and their remote entries. */
      readonly heapBytes: number;
      readonly remoteEntries: number;
      readonly agents: number;
    }
  | {
      readonly kind: 'stopped';
      readonly warnings: number;
      /** Reader and reconciler counters, summed over this worker's agents. */
      readonly counters: Readonly<Record<string, number>>;
    }
  | { readonly kind: 'error'; readonly message: string };
