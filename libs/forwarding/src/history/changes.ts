import { compareKeys, sameEntry, TABLE_NAMES, type ForwardingTables } from '../tables';
import type { EventRef } from './events';
import { tableByName, type ChangeKind, type EntryChange } from './lineage';

/** One entry that differs between two moments, and the events that made it differ. */
export interface EntryDiff {
  readonly table: string;
  readonly key: string;
  readonly kind: ChangeKind;
  readonly before: object | null;
  readonly after: object | null;
  /** Every event between the two moments that changed this entry, in log order. */
  readonly causes: readonly EventRef[];
}

/**
 * The entries added, removed and changed from `before` to `after` (two states of one node),
 * each with its causes taken from `changes` (the lineage of the events folded in between).
 * An entry that changed and changed back is not listed. Tables in TABLE_NAMES order, keys
 * sorted.
 */
export function diffWithCauses(
  before: ForwardingTables,
  after: ForwardingTables,
  changes: readonly EntryChange[],
): EntryDiff[] {
  const causes = new Map<string, EventRef[]>();
  for (const change of changes) {
    const id = `${change.table}\u0000${change.key}`;
    const list = causes.get(id);
    if (list === undefined) causes.set(id, [change.event]);
    else if (list[list.length - 1] !== change.event) list.push(change.event);
  }
  const out: EntryDiff[] = [];
  for (const table of TABLE_NAMES) {
    const from = tableByName(before, table);
    const to = tableByName(after, table);
    const keys = new Set([...from.keys(), ...to.keys()]);
    for (const key of [...keys].sort(compareKeys)) {
      const a = from.get(key);
      const b = to.get(key);
      if (a !== undefined && b !== undefined && sameEntry(a, b)) continue;
      out.push({
        table,
        key,
        kind: a === undefined ? 'added' : b === undefined ? 'removed' : 'changed',
        before: a ?? null,
        after: b ?? null,
        causes: causes.get(`${table}\u0000${key}`) ?? [],
      });
    }
  }
  return out;
}
