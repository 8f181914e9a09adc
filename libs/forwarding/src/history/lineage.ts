import type { ForwardingState } from '../forwarding-state';
import { sameEntry, TABLE_NAMES, type ForwardingTables } from '../tables';
import { eventRef, type EventRef, type HistoryEvent } from './events';

/**
 * Lineage: which event changed which forwarding entry. The fold itself is not changed: after
 * each event, `takeChanges()` names the keys it may have touched, and a shadow copy of the
 * tables (entries are immutable and shared, so the copy costs one map slot per entry) tells
 * whether the entry really changed. Written over TABLE_NAMES, so every table the fold has —
 * today's and tomorrow's — gets lineage with no change here.
 */

export type ChangeKind = 'added' | 'removed' | 'changed';

/** One entry of one table changed by one event. */
export interface EntryChange {
  readonly table: string;
  readonly key: string;
  readonly kind: ChangeKind;
  /** The entry before and after the event; null where there was none. */
  readonly before: object | null;
  readonly after: object | null;
  readonly event: EventRef;
}

/** Keep only some keys (an `explain` of one address): the rest cost no comparison. */
export type KeyFilter = (table: string, key: string) => boolean;

/** A table set read by name, whatever tables the fold has. */
export function tableByName(tables: ForwardingTables, table: string): ReadonlyMap<string, object> {
  return (tables as unknown as Record<string, ReadonlyMap<string, object>>)[table];
}

/**
 * Folds events into a ForwardingState and says, for each, which entries it changed. Takes
 * over the state's change tracking (`takeChanges`): do not reconcile from the same state.
 */
export class LineageFold {
  private readonly shadow = new Map<string, Map<string, object>>();

  constructor(
    readonly state: ForwardingState,
    private readonly keep?: KeyFilter,
  ) {
    state.takeChanges();
    for (const table of TABLE_NAMES) {
      const copy = new Map<string, object>();
      for (const [key, entry] of tableByName(state.tables, table)) {
        if (keep === undefined || keep(table, key)) copy.set(key, entry);
      }
      this.shadow.set(table, copy);
    }
  }

  /** Folds `event`; returns the entries it changed (none for a duplicate or ignored event). */
  apply(event: HistoryEvent): EntryChange[] {
    this.state.apply(event);
    const touched = this.state.takeChanges() as unknown as Record<string, ReadonlySet<string>>;
    let changes: EntryChange[] | undefined;
    let ref: EventRef | undefined;
    for (const table of TABLE_NAMES) {
      const keys = touched[table];
      if (keys === undefined || keys.size === 0) continue;
      const shadow = this.shadow.get(table)!;
      const current = tableByName(this.state.tables, table);
      for (const key of keys) {
        if (this.keep !== undefined && !this.keep(table, key)) continue;
        const before = shadow.get(key);
        const after = current.get(key);
        if (before === after) continue;
        if (before !== undefined && after !== undefined && sameEntry(before, after)) {
          shadow.set(key, after);
          continue;
        }
        if (after === undefined) shadow.delete(key);
        else shadow.set(key, after);
        ref ??= eventRef(event);
        (changes ??= []).push({
          table,
          key,
          kind: before === undefined ? 'added' : after === undefined ? 'removed' : 'changed',
          before: before ?? null,
          after: after ?? null,
          event: ref,
        });
      }
    }
    return changes ?? [];
  }
}
