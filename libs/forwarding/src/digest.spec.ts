import { canonicalJson, digestTables, writeCanonicalTables } from './digest';
import { sha256Hex } from './sha256';
import { emptyTables, tablesToJson, type ForwardingTables } from './tables';

/** The streamed encoding, joined. */
function streamed(tables: ForwardingTables): { text: string; chunks: number } {
  const chunks: string[] = [];
  writeCanonicalTables(tables, (chunk) => chunks.push(chunk));
  return { text: chunks.join(''), chunks: chunks.length };
}

function tablesOf(fill: (tables: Record<string, Map<string, unknown>>) => void): ForwardingTables {
  const tables = emptyTables() as unknown as Record<string, Map<string, unknown>>;
  fill(tables);
  return tables as unknown as ForwardingTables;
}

describe('writeCanonicalTables: the canonical JSON of tablesToJson, streamed', () => {
  const cases: { name: string; tables: ForwardingTables }[] = [
    { name: 'no entries', tables: tablesOf(() => undefined) },
    {
      name: 'entries of one shape, inserted out of key order',
      tables: tablesOf((t) => {
        t.local.set('10.0.0.9', { uid: 'b', interfaceName: 'stx', mac: 'm', vni: 1, identity: 7 });
        t.local.set('10.0.0.10', { uid: 'a', interfaceName: 'sty', mac: 'm', vni: 1, identity: 0 });
        t.vteps.set('node-2', { mac: '02', address: '192.168.1.2' });
      }),
    },
    {
      name: 'shapes that differ, fields in another order, undefined and nested values',
      tables: tablesOf((t) => {
        t.rules.set('2', { policyId: 'p', name: 'n', tier: 't', direction: 'ingress', index: 0 });
        t.rules.set('1', { index: 1, policyId: 'p', staged: false, action: 'deny', name: 'n' });
        t.rules.set('3', {
          index: 1,
          policyId: 'p\u00e9"\\',
          extra: undefined,
          nested: { z: [1, null], a: true },
        });
        t.prefixes.set('10.0.0.0/8', { identity: 16_777_216 });
        t.policy.set('i:1:*:tcp:80', { verdict: 1, ruleId: 3, flags: 0 });
        t.remote.set('Z', { b: 1 });
        t.remote.set('a', { a: 1 });
      }),
    },
    {
      name: 'more than one chunk',
      tables: tablesOf((t) => {
        for (let i = 0; i < 5_000; i++) {
          t.remote.set(`10.1.${i >> 8}.${i & 255}`, {
            uid: `pod-${i}`,
            node: `node-${i % 7}`,
            vtepAddress: '192.168.0.1',
            vtepMac: '02:00:00:00:00:01',
            mac: '0a:58:0a:00:00:01',
            vni: 100,
            identity: 256 + (i % 32),
          });
        }
      }),
    },
  ];

  it.each(cases)('$name', ({ tables }) => {
    const expected = canonicalJson(tablesToJson(tables));
    expect(streamed(tables).text).toBe(expected);
    expect(digestTables(tables)).toBe(sha256Hex(expected));
  });

  it('hands a large table set over in chunks, not one string', () => {
    expect(streamed(cases[3].tables).chunks).toBeGreaterThan(5);
  });

  it('rejects what JSON cannot represent, as canonicalJson does', () => {
    const bad = tablesOf((t) => t.prefixes.set('0.0.0.0/0', { identity: Number.NaN }));
    expect(() => streamed(bad)).toThrow(TypeError);
  });
});
