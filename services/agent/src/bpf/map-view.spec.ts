import { sameEntry, type LocalEndpointEntry, type RemoteEndpointEntry } from '@strata/forwarding';
import {
  encodeLocalEndpoint,
  encodeRemoteEndpoint,
  encodeVtep,
  encodeIndex,
  encodeTrafficKey,
  VTEP_FLAG_NO_GBP,
} from '../../../../dataplane/bpf/maps';
import { countersToPrometheus, readCounters, type CounterMap } from './counters';
import { localValue, remoteValue, viewLocal, viewRemote, viewVteps, VTEP_VALUE } from './map-view';

const LOCAL: LocalEndpointEntry = {
  uid: 'pod-a',
  interfaceName: 'staaaaaaaaaaa',
  mac: '0a:58:0a:f4:01:02',
  vni: 42,
  identity: 1000,
};
const REMOTE: RemoteEndpointEntry = {
  uid: 'pod-b',
  node: 'node-2',
  vtepAddress: '192.168.200.2',
  vtepMac: '02:00:c0:a8:c8:02',
  mac: '0a:58:0a:f4:02:02',
  vni: 42,
  identity: 2000,
};
const VTEP2 = { address: '192.168.200.2', mac: '02:00:c0:a8:c8:02' };

describe('reading the endpoint maps back as table entries', () => {
  it('gives the written entry itself when the map holds its encoding', () => {
    expect(viewLocal(localValue(LOCAL, 7), LOCAL, 7)).toBe(LOCAL);
    expect(viewRemote(remoteValue(REMOTE), REMOTE)).toBe(REMOTE);
  });

  it('gives an entry that differs from the written one when the map value drifted', () => {
    const vni = viewLocal(encodeLocalEndpoint({ ifindex: 7, ...LOCAL, vni: 43 }), LOCAL, 7);
    expect(vni).toEqual({ ...LOCAL, vni: 43 });
    // Only the ifindex differs (the veth was re-created): the interface is named by index.
    const moved = viewLocal(localValue(LOCAL, 7), LOCAL, 9);
    expect(moved).toEqual({ ...LOCAL, interfaceName: 'ifindex:7' });
    expect(sameEntry(moved, LOCAL)).toBe(false);
    // The veth is gone.
    expect(sameEntry(viewLocal(localValue(LOCAL, 7), LOCAL, undefined), LOCAL)).toBe(false);
    const remote = viewRemote(remoteValue({ ...REMOTE, vtepMac: '02:00:00:00:00:09' }), REMOTE);
    expect(remote).toEqual({ ...REMOTE, vtepMac: '02:00:00:00:00:09' });
  });

  it('ignores pad bytes, as the programs do', () => {
    const value = remoteValue(REMOTE);
    value[22] = 0xff;
    expect(viewRemote(value, REMOTE)).toBe(REMOTE);
  });

  it('gives keys it never wrote empty identities, so the diff rewrites or deletes them', () => {
    expect(viewLocal(localValue(LOCAL, 7), undefined, undefined)).toEqual({
      uid: '',
      interfaceName: 'ifindex:7',
      mac: LOCAL.mac,
      vni: 42,
      identity: 1000,
    });
    expect(viewRemote(encodeRemoteEndpoint(REMOTE), undefined)).toEqual({
      ...REMOTE,
      uid: '',
      node: '',
    });
  });
});

describe('reading strata_vteps back by node name', () => {
  const written = new Map([
    ['node-2', VTEP2],
    ['node-3', VTEP2],
    ['node-4', { address: '192.168.200.4', mac: '02:00:c0:a8:c8:04' }],
  ]);

  it('reports every node of a shared address, and nothing for a missing address', () => {
    const view = viewVteps(new Map([[VTEP2.address, VTEP_VALUE]]), written);
    expect([...view]).toEqual([
      ['node-2', VTEP2],
      ['node-3', VTEP2],
    ]);
  });

  it('reports drifted flags as a differing entry and unclaimed addresses under @', () => {
    const view = viewVteps(
      new Map([
        [VTEP2.address, encodeVtep({ flags: VTEP_FLAG_NO_GBP })],
        ['192.168.200.9', VTEP_VALUE],
      ]),
      written,
    );
    expect(sameEntry(view.get('node-2')!, VTEP2)).toBe(false);
    expect(view.get('@192.168.200.9')).toEqual({ address: '192.168.200.9', mac: '' });
  });
});

describe('dataplane counters', () => {
  /** A per-CPU map of two CPUs as the kernel returns it. */
  function perCpu(entries: Array<[Buffer, bigint[]]>): CounterMap {
    const values = new Map(
      entries.map(([key, slots]) => {
        const value = Buffer.alloc(slots.length * 8);
        slots.forEach((slot, i) => value.writeBigUInt64LE(slot, i * 8));
        return [key.toString('hex'), [key, value] as [Buffer, Buffer]];
      }),
    );
    return {
      lookup: (key) => values.get(key.toString('hex'))?.[1],
      entries: () => [...values.values()],
    };
  }

  it('sums over CPUs, leaves zeros out and prints Prometheus text', () => {
    const counters = readCounters({
      drops: perCpu([
        [encodeIndex(12), [2n, 3n]],
        [encodeIndex(7), [0n, 0n]],
      ]),
      stats: perCpu([[encodeIndex(1), [10n, 1n]]]),
      traffic: perCpu([
        [
          encodeTrafficKey({ srcIdentity: 1000, dstIdentity: 2000, direction: 'from_pod' }),
          [4n, 400n, 1n, 100n],
        ],
      ]),
    });
    expect(counters).toEqual({
      drops: { spoofed_ip: 5 },
      stats: { encapsulated: 11 },
      traffic: [
        { srcIdentity: 1000, dstIdentity: 2000, direction: 'from_pod', packets: 5, bytes: 500 },
      ],
    });
    const text = countersToPrometheus('node-1', counters);
    expect(text).toContain('strata_dataplane_drops_total{node="node-1",reason="spoofed_ip"} 5\n');
    expect(text).toContain(
      'strata_dataplane_traffic_bytes_total{node="node-1",src_identity="1000",' +
        'dst_identity="2000",direction="from_pod"} 500\n',
    );
  });
});
