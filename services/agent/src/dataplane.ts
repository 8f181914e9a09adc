import type { AgentDataplaneCounters, AgentPolicyRuleCounters } from '@strata/bus';
import {
  copyTables,
  emptyTables,
  TABLE_NAMES,
  type EntryOf,
  type ForwardingDelta,
  type ForwardingTables,
  type MutableTables,
  type TableName,
} from '@strata/forwarding';

/**
 * The one interface through which an agent changes a node's dataplane. Every operation is
 * idempotent, so a write retried after a crash or a resync never fails on what is already
 * there:
 * - `update` writes entries (insert or replace);
 * - `delete` removes keys; a key that is not there is fine;
 * - `prune` removes every key of a table that `keep` refuses (a restart's stale entries);
 * - `read` returns what the dataplane really holds, for the periodic resync.
 * The in-memory implementation below serves tests and simulations; the BPF-map one writes the
 * XDP/TC programs' maps.
 */
export interface DataplaneOperations {
  /** What it writes to, for status output: `memory`, `bpf`. */
  readonly kind: string;
  update<T extends TableName>(
    table: T,
    entries: ReadonlyArray<{ readonly key: string; readonly entry: EntryOf<T> }>,
  ): Promise<void>;
  delete(table: TableName, keys: readonly string[]): Promise<void>;
  prune(table: TableName, keep: (key: string) => boolean): Promise<number>;
  read(): Promise<ForwardingTables>;
  /**
   * writeDelta calls it once after the last write of a delta: work that must see the whole batch
   * in place, never a half-written one (the BPF dataplane re-checks its tracked connections
   * against the new policy there).
   */
  endBatch?(): Promise<void>;
  close(): Promise<void>;
  /** What the dataplane counted (drops by reason, traffic per identity pair), where it counts. */
  counters?(): AgentDataplaneCounters;
  /** Policy verdicts counted per rule, named through the `rules` table, where it counts. */
  policyRules?(): AgentPolicyRuleCounters[];
  /** The same counters as Prometheus text, labelled with `node`. */
  metrics?(node: string): string;
}

/**
 * Writes a delta through `operations`: per table, deletes first (a moved IP frees its key); then
 * `endBatch`.
 */
export async function writeDelta(
  operations: DataplaneOperations,
  delta: ForwardingDelta,
): Promise<void> {
  for (const table of TABLE_NAMES) {
    const { updates, deletes } = delta[table];
    if (deletes.length > 0) await operations.delete(table, deletes);
    if (updates.length > 0) await operations.update(table, updates as never);
  }
  await operations.endBatch?.();
}

/**
 * A dataplane in memory: the tables an agent would program, kept in maps. Entries are the
 * fold's immutable objects, shared, so a simulated agent holds no copy of them. Writes can be
 * made to fail (`failNext`) to exercise an agent's recovery.
 */
export class MemoryDataplane implements DataplaneOperations {
  readonly kind = 'memory';
  readonly writes = { updates: 0, deletes: 0, prunes: 0 };
  private readonly tables: MutableTables = emptyTables();
  private failures = 0;

  /** The next `count` operations reject (a dataplane that refuses writes for a while). */
  failNext(count: number): void {
    this.failures = count;
  }

  /** Changes the tables behind the agent's back (drift, as a resync must find and repair). */
  tamper(change: (tables: MutableTables) => void): void {
    change(this.tables);
  }

  async update<T extends TableName>(
    table: T,
    entries: ReadonlyArray<{ readonly key: string; readonly entry: EntryOf<T> }>,
  ): Promise<void> {
    this.maybeFail('update');
    const target = this.tables[table] as Map<string, EntryOf<T>>;
    for (const { key, entry } of entries) target.set(key, entry);
    this.writes.updates += entries.length;
  }

  async delete(table: TableName, keys: readonly string[]): Promise<void> {
    this.maybeFail('delete');
    for (const key of keys) this.tables[table].delete(key);
    this.writes.deletes += keys.length;
  }

  async prune(table: TableName, keep: (key: string) => boolean): Promise<number> {
    this.maybeFail('prune');
    let removed = 0;
    for (const key of [...this.tables[table].keys()]) {
      if (!keep(key)) {
        this.tables[table].delete(key);
        removed++;
      }
    }
    this.writes.prunes += removed;
    return removed;
  }

  async read(): Promise<ForwardingTables> {
    this.maybeFail('read');
    return copyTables(this.tables);
  }

  async close(): Promise<void> {}

  private maybeFail(operation: string): void {
    if (this.failures > 0) {
      this.failures--;
      throw new Error(`memory dataplane: ${operation} refused (failure injected)`);
    }
  }
}
