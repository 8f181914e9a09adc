import {
  sameEntry,
  type LocalEndpointEntry,
  type RemoteEndpointEntry,
  type VtepEntry,
} from '@strata/forwarding';
import {
  decodeLocalEndpoint,
  decodeRemoteEndpoint,
  decodeVtep,
  encodeLocalEndpoint,
  encodeRemoteEndpoint,
  encodeVtep,
} from '../../../../dataplane/bpf/maps';

/**
 * Forwarding-table entries as BPF map values and back: pure functions, no I/O.
 *
 * The maps hold less than the tables (no uid, node or interface name; an ifindex instead of a
 * name; no VTEP MAC in strata_vteps), so `read()` cannot decode the tables from the maps alone.
 * The dataplane keeps a shadow of the full entries it wrote and reports, per key:
 * - the shadow entry, when the map holds exactly its encoding (in sync);
 * - a synthetic entry built from the map's value, when it differs (drift). It never equals the
 *   shadow entry, so the reconciler's field-by-field diff rewrites it;
 * - a synthetic entry with empty identity fields, for a key the shadow does not know (stale, e.g.
 *   a previous run's entry after a restart). The diff then rewrites it (same value: traffic
 *   does not notice) or deletes it.
 */

/** Strata nodes always stamp GBP, so every VTEP the tables name is written with no flags. */
export const VTEP_VALUE = encodeVtep({ flags: 0 });

/**
 * Key prefix for a strata_vteps address no node in the shadow claims (after a restart). Node
 * names are DNS subdomains, so no real key starts with it.
 */
export const STALE_VTEP_PREFIX = '@';

/** Stands for an interface the dataplane knows only by index. */
export function interfaceByIndex(ifindex: number): string {
  return `ifindex:${ifindex}`;
}

export function localValue(entry: LocalEndpointEntry, ifindex: number): Buffer {
  return encodeLocalEndpoint({
    ifindex,
    vni: entry.vni,
    identity: entry.identity,
    mac: entry.mac,
  });
}

export function remoteValue(entry: RemoteEndpointEntry): Buffer {
  return encodeRemoteEndpoint({
    vtepAddress: entry.vtepAddress,
    vni: entry.vni,
    identity: entry.identity,
    vtepMac: entry.vtepMac,
    mac: entry.mac,
  });
}

/**
 * What a strata_locals value stands for. `ifindex` is the current index of the written entry's
 * interface (undefined: the interface is gone, or there is no written entry).
 */
export function viewLocal(
  value: Buffer,
  written: LocalEndpointEntry | undefined,
  ifindex: number | undefined,
): LocalEndpointEntry {
  if (written !== undefined && ifindex !== undefined) {
    if (sameValue(value, localValue(written, ifindex))) return written;
  }
  const held = decodeLocalEndpoint(value);
  return {
    uid: written?.uid ?? '',
    // The map names an interface by index: the written one's name only if it still has it.
    interfaceName:
      written !== undefined && held.ifindex === ifindex
        ? written.interfaceName
        : interfaceByIndex(held.ifindex),
    mac: held.mac,
    vni: held.vni,
    identity: held.identity,
  };
}

/** What a strata_remotes value stands for. Pad bytes are ignored, as the programs do. */
export function viewRemote(
  value: Buffer,
  written: RemoteEndpointEntry | undefined,
): RemoteEndpointEntry {
  if (written !== undefined && sameValue(value, remoteValue(written))) return written;
  const held = decodeRemoteEndpoint(value);
  const entry: RemoteEndpointEntry = {
    uid: written?.uid ?? '',
    node: written?.node ?? '',
    vtepAddress: held.vtepAddress,
    vtepMac: held.vtepMac,
    mac: held.mac,
    vni: held.vni,
    identity: held.identity,
  };
  return written !== undefined && sameEntry(entry, written) ? written : entry;
}

/** A strata_vteps entry whose flags are not the ones written: the extra field makes it differ. */
export interface DriftedVtepEntry extends VtepEntry {
  readonly flags: number;
}

/**
 * The vteps table as the map holds it: `values` is strata_vteps by dotted-quad address,
 * `written` the shadow by node name. Several nodes may share one address (one map key): each
 * is reported while the key holds the right value.
 */
export function viewVteps(
  values: ReadonlyMap<string, Buffer>,
  written: ReadonlyMap<string, VtepEntry>,
): Map<string, VtepEntry> {
  const view = new Map<string, VtepEntry>();
  const claimed = new Set<string>();
  for (const [name, entry] of written) {
    claimed.add(entry.address);
    const value = values.get(entry.address);
    if (value === undefined) continue;
    if (sameValue(value, VTEP_VALUE)) {
      view.set(name, entry);
    } else {
      const drifted: DriftedVtepEntry = { ...entry, flags: decodeVtep(value).flags };
      view.set(name, drifted);
    }
  }
  for (const address of values.keys()) {
    if (!claimed.has(address)) view.set(STALE_VTEP_PREFIX + address, { address, mac: '' });
  }
  return view;
}

function sameValue(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && a.equals(b);
}
