import { sha256Hex } from './sha256';
import { tablesToJson, type ForwardingTables } from './tables';

/**
 * The canonical digest of a node's forwarding tables: SHA-256 over their canonical JSON (tables
 * in a fixed order, keys and entry fields sorted). Two table sets have the same digest iff they
 * hold the same entries, however and in whatever order they were built — so a replayed state,
 * a restored snapshot and an agent's applied maps can be compared by one string.
 */
export function digestTables(tables: ForwardingTables): string {
  return sha256Hex(canonicalJson(tablesToJson(tables)));
}

/** JSON with object keys sorted at every level; rejects what JSON cannot represent exactly. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot digest the number ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const fields = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${fields.join(',')}}`;
  }
  throw new TypeError(`cannot digest a ${typeof value}`);
}
