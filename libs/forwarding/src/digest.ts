import { sha256Hex } from './sha256';
import { compareKeys, type ForwardingTables, type TableName } from './tables';

/**
 * The canonical digest of a node's forwarding tables: SHA-256 over their canonical JSON (tables
 * in a fixed order, keys and entry fields sorted). Two table sets have the same digest iff they
 * hold the same entries, however and in whatever order they were built — so a replayed state,
 * a restored snapshot and an agent's applied maps can be compared by one string.
 */
export function digestTables(tables: ForwardingTables): string {
  const parts: string[] = [];
  writeCanonicalTables(tables, (chunk) => parts.push(chunk));
  return sha256Hex(parts.join(''));
}

/** The tables in canonicalJson's key order (sorted names), as tablesToJson lists them. */
const CANONICAL_TABLE_ORDER: readonly TableName[] = (
  ['local', 'remote', 'vteps', 'policy', 'prefixes', 'rules'] satisfies TableName[]
).sort();
/** Chunks handed to `write` are about this long: a hash takes them without one huge string. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes `canonicalJson(tablesToJson(tables))` to `write`, in chunks, without building the
 * sorted entry lists or one string of the whole: a hash (node:crypto's, or a sink that joins)
 * takes it piecewise. Entries of one shape share one sort of their field names. The digest.spec
 * holds the two encodings equal.
 */
export function writeCanonicalTables(
  tables: ForwardingTables,
  write: (chunk: string) => void,
): void {
  let buffer = '{';
  let shapeKeys: string[] = [];
  let shapeSorted: string[] = [];
  let shapeQuoted: string[] = [];
  CANONICAL_TABLE_ORDER.forEach((name, t) => {
    buffer += `${t === 0 ? '' : ','}${JSON.stringify(name)}:[`;
    const table = tables[name] as ReadonlyMap<string, unknown>;
    const entries = [...table].sort(([a], [b]) => compareKeys(a, b));
    for (let i = 0; i < entries.length; i++) {
      const [key, entry] = entries[i];
      buffer += `${i === 0 ? '' : ','}[${JSON.stringify(key)},`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        buffer += `${canonicalJson(entry)}]`;
      } else {
        const record = entry as Record<string, unknown>;
        const fields = Object.keys(record);
        if (!sameList(fields, shapeKeys)) {
          shapeKeys = fields;
          shapeSorted = [...fields].sort();
          shapeQuoted = shapeSorted.map((field) => `${JSON.stringify(field)}:`);
        }
        let first = true;
        buffer += '{';
        for (let f = 0; f < shapeSorted.length; f++) {
          const value = record[shapeSorted[f]];
          if (value === undefined) continue;
          buffer += `${first ? '' : ','}${shapeQuoted[f]}${
            typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value)
          }`;
          first = false;
        }
        buffer += '}]';
      }
      if (buffer.length >= CHUNK_CHARS) {
        write(buffer);
        buffer = '';
      }
    }
    buffer += ']';
  });
  write(`${buffer}}`);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
