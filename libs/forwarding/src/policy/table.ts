import type { PolicyEntry } from '../tables';

/**
 * The `policy` table as the fold keeps it: its rows grouped by (direction, local identity,
 * peer), each group the rows of one compiled function (shared between the peers that have that
 * function, never mutated). Readers see a ReadonlyMap over the flat keys of docs/policy.md,
 * `<dir>:<local>:<peer>:<proto>[:<port>/<bits>]`; the compiler replaces whole groups, so a
 * peer whose function changes costs one slot whatever the table's size. (A flat Map of a
 * quarter of a million keys rebuilds its whole hash table every few thousand deletes and
 * inserts: tens of milliseconds that a one-policy change would pay.)
 */
export class PolicyTable implements ReadonlyMap<string, PolicyEntry> {
  /** `<dir>:<local>:<peer>:` -> rows by the rest of the key. */
  private readonly groups = new Map<string, ReadonlyMap<string, PolicyEntry>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get [Symbol.toStringTag](): string {
    return 'PolicyTable';
  }

  get(key: string): PolicyEntry | undefined {
    const split = groupEnd(key);
    if (split < 0) return undefined;
    return this.groups.get(key.slice(0, split))?.get(key.slice(split));
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The rows of one group (`<dir>:<local>:<peer>:`), if it has any. */
  group(prefix: string): ReadonlyMap<string, PolicyEntry> | undefined {
    return this.groups.get(prefix);
  }

  /** Replaces the rows of group `prefix`; undefined or empty removes the group. */
  setGroup(prefix: string, rows: ReadonlyMap<string, PolicyEntry> | undefined): void {
    const old = this.groups.get(prefix);
    if (old !== undefined) this.count -= old.size;
    if (rows === undefined || rows.size === 0) {
      this.groups.delete(prefix);
      return;
    }
    this.groups.set(prefix, rows);
    this.count += rows.size;
  }

  forEach(
    visit: (entry: PolicyEntry, key: string, table: ReadonlyMap<string, PolicyEntry>) => void,
    thisArg?: unknown,
  ): void {
    for (const [prefix, rows] of this.groups) {
      for (const [suffix, entry] of rows) visit.call(thisArg, entry, prefix + suffix, this);
    }
  }

  entries(): MapIterator<[string, PolicyEntry]> {
    return this.rows((key, entry): [string, PolicyEntry] => [key, entry]);
  }

  keys(): MapIterator<string> {
    return this.rows((key) => key);
  }

  values(): MapIterator<PolicyEntry> {
    return this.rows((_key, entry) => entry);
  }

  [Symbol.iterator](): MapIterator<[string, PolicyEntry]> {
    return this.entries();
  }

  private rows<T>(pick: (key: string, entry: PolicyEntry) => T): MapIterator<T> {
    const groups = this.groups;
    function* walk(): Generator<T, undefined, unknown> {
      for (const [prefix, rows] of groups) {
        for (const [suffix, entry] of rows) yield pick(prefix + suffix, entry);
      }
      return undefined;
    }
    return walk();
  }
}

/** Where a key's group prefix ends (just after its third `:`), or -1. */
function groupEnd(key: string): number {
  const first = key.indexOf(':');
  if (first < 0) return -1;
  const second = key.indexOf(':', first + 1);
  if (second < 0) return -1;
  const third = key.indexOf(':', second + 1);
  return third < 0 ? -1 : third + 1;
}
