import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BusCheckpoint } from '@strata/bus';
import type { ForwardingSnapshot } from '@strata/forwarding';

/**
 * An agent's checkpoint: its fold's snapshot and the bus position and sequence it stands at,
 * in one JSON file written atomically (a temporary file, fsync, rename, fsync of the
 * directory): after a crash the file holds the previous checkpoint or the new one, whole.
 */
export interface AgentCheckpoint {
  readonly version: 1;
  readonly node: string;
  readonly bus: BusCheckpoint;
  /** ForwardingState.snapshot(); validated by ForwardingState.restore when loaded. */
  readonly state: ForwardingSnapshot;
}

export class InvalidCheckpoint extends Error {
  readonly code = 'InvalidCheckpoint';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`checkpoint ${path} is not usable: ${reason}`);
    this.name = 'InvalidCheckpoint';
  }
}

/** Where an agent keeps its checkpoint: a file on the node, or memory in simulations. */
export interface CheckpointStore {
  /** The stored checkpoint, undefined if none; throws if it exists but is unusable. */
  load(node: string): Promise<{ bus: BusCheckpoint; state: unknown } | undefined>;
  save(checkpoint: AgentCheckpoint): Promise<void>;
  /** Sets an unusable checkpoint aside; says where, if anywhere. */
  quarantine(): Promise<string | undefined>;
}

export class CheckpointFile implements CheckpointStore {
  constructor(readonly path: string) {}

  /** The stored checkpoint, undefined if there is none; InvalidCheckpoint if it is unreadable. */
  async load(node: string): Promise<{ bus: BusCheckpoint; state: unknown } | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new InvalidCheckpoint(this.path, `not JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null) {
      throw new InvalidCheckpoint(this.path, 'not an object');
    }
    const checkpoint = value as Partial<Record<keyof AgentCheckpoint, unknown>>;
    if (checkpoint.version !== 1) {
      throw new InvalidCheckpoint(this.path, `unknown version ${String(checkpoint.version)}`);
    }
    if (checkpoint.node !== node) {
      throw new InvalidCheckpoint(
        this.path,
        `it belongs to node ${JSON.stringify(checkpoint.node)}, not ${JSON.stringify(node)}`,
      );
    }
    const bus = checkpoint.bus as Partial<BusCheckpoint> | undefined;
    const valid = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
    if (!valid(bus?.position) || !valid(bus?.seq) || bus.seq > bus.position) {
      throw new InvalidCheckpoint(this.path, 'bus position and sequence are not valid');
    }
    return { bus: { position: bus.position, seq: bus.seq }, state: checkpoint.state };
  }

  async save(checkpoint: AgentCheckpoint): Promise<void> {
    const temporary = `${this.path}.tmp`;
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(checkpoint));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
    const directory = await open(dirname(this.path), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Moves an unusable checkpoint aside (kept for inspection) so the agent starts clean. */
  async quarantine(): Promise<string> {
    const aside = `${this.path}.invalid`;
    await rm(aside, { force: true });
    await rename(this.path, aside);
    return aside;
  }
}
