import {
  compareKeys,
  copyTables,
  sameEntry,
  TABLE_NAMES,
  type ChangedKeys,
  type EntryOf,
  type ForwardingTables,
  type MutableTables,
  type TableName,
} from './tables';

/** What turns one table into another: entries to write (new or changed), keys to remove. */
export interface TableDelta<Entry> {
  readonly updates: ReadonlyArray<{ readonly key: string; readonly entry: Entry }>;
  readonly deletes: readonly string[];
}

export type ForwardingDelta = { readonly [T in TableName]: TableDelta<EntryOf<T>> };

/**
 * The minimal delta from `applied` (what the dataplane holds) to `desired` (the fold's
 * tables): an update for every key missing or different in `applied`, a delete for every key
 * `desired` no longer has, nothing for equal entries. Keys are sorted, so equal inputs give
 * equal deltas. O(size of both); neither input is changed.
 */
export function diff(desired: ForwardingTables, applied: ForwardingTables): ForwardingDelta {
  return {
    local: diffTable(desired.local, applied.local),
    remote: diffTable(desired.remote, applied.remote),
    vteps: diffTable(desired.vteps, applied.vteps),
    policy: diffTable(desired.policy, applied.policy),
    prefixes: diffTable(desired.prefixes, applied.prefixes),
    rules: diffTable(desired.rules, applied.rules),
  };
}

export function diffTable<Entry extends object>(
  desired: ReadonlyMap<string, Entry>,
  applied: ReadonlyMap<string, Entry>,
): TableDelta<Entry> {
  const updates: { key: string; entry: Entry }[] = [];
  const deletes: string[] = [];
  for (const [key, entry] of desired) {
    const current = applied.get(key);
    if (current === undefined || !sameEntry(entry, current)) updates.push({ key, entry });
  }
  for (const key of applied.keys()) {
    if (!desired.has(key)) deletes.push(key);
  }
  updates.sort((a, b) => compareKeys(a.key, b.key));
  deletes.sort(compareKeys);
  return { updates, deletes };
}

/**
 * The delta for the keys in `changed` only: what `diff` would say about them, at a cost of
 * O(changed keys). Keys absent from both sides are skipped. Sorted like `diff`.
 */
export function diffChanged(
  desired: ForwardingTables,
  applied: ForwardingTables,
  changed: ChangedKeys,
): ForwardingDelta {
  return {
    local: diffKeys(desired.local, applied.local, changed.local),
    remote: diffKeys(desired.remote, applied.remote, changed.remote),
    vteps: diffKeys(desired.vteps, applied.vteps, changed.vteps),
    policy: diffKeys(desired.policy, applied.policy, changed.policy),
    prefixes: diffKeys(desired.prefixes, applied.prefixes, changed.prefixes),
    rules: diffKeys(desired.rules, applied.rules, changed.rules),
  };
}

function diffKeys<Entry extends object>(
  desired: ReadonlyMap<string, Entry>,
  applied: ReadonlyMap<string, Entry>,
  keys: ReadonlySet<string>,
): TableDelta<Entry> {
  const updates: { key: string; entry: Entry }[] = [];
  const deletes: string[] = [];
  for (const key of keys) {
    const entry = desired.get(key);
    const current = applied.get(key);
    if (entry === undefined) {
      if (current !== undefined) deletes.push(key);
    } else if (current === undefined || !sameEntry(entry, current)) {
      updates.push({ key, entry });
    }
  }
  updates.sort((a, b) => compareKeys(a.key, b.key));
  deletes.sort(compareKeys);
  return { updates, deletes };
}

/** How many entries a delta writes and removes. */
export function deltaSize(delta: ForwardingDelta): { updates: number; deletes: number } {
  let updates = 0;
  let deletes = 0;
  for (const table of TABLE_NAMES) {
    updates += delta[table].updates.length;
    deletes += delta[table].deletes.length;
  }
  return { updates, deletes };
}

export function isEmptyDelta(delta: ForwardingDelta): boolean {
  return TABLE_NAMES.every(
    (table) => delta[table].updates.length === 0 && delta[table].deletes.length === 0,
  );
}

/** `applied` with `delta` written to it, as a new table set (`applied` is left unchanged). */
export function applyDelta(applied: ForwardingTables, delta: ForwardingDelta): MutableTables {
  const next = copyTables(applied);
  applyTableDelta(next.local, delta.local);
  applyTableDelta(next.remote, delta.remote);
  applyTableDelta(next.vteps, delta.vteps);
  applyTableDelta(next.policy, delta.policy);
  applyTableDelta(next.prefixes, delta.prefixes);
  applyTableDelta(next.rules, delta.rules);
  return next;
}

/** Writes `delta` into `tables` in place: the reconciler's mirror of what the dataplane holds. */
export function applyDeltaInPlace(tables: MutableTables, delta: ForwardingDelta): void {
  applyTableDelta(tables.local, delta.local);
  applyTableDelta(tables.remote, delta.remote);
  applyTableDelta(tables.vteps, delta.vteps);
  applyTableDelta(tables.policy, delta.policy);
  applyTableDelta(tables.prefixes, delta.prefixes);
  applyTableDelta(tables.rules, delta.rules);
}

function applyTableDelta<Entry>(table: Map<string, Entry>, delta: TableDelta<Entry>): void {
  for (const key of delta.deletes) table.delete(key);
  for (const { key, entry } of delta.updates) table.set(key, entry);
}
