/**
 * Runs the Strata BPF programs through BPF_PROG_RUN for packet-table tests: builds the objects,
 * loads one with a node configuration under a private pin root, writes the endpoint and VTEP
 * maps row by row, runs a frame and reports the verdict, the output frame and what every counter
 * did. Needs root and a mounted bpffs (the integration tests run as root).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  bpffsMounted,
  loadObject,
  RingBuffer,
  type BpfMap,
  type BpfObject,
} from '@strata/dataplane';
import {
  CONFIG_VARIABLE,
  DROP_REASONS,
  MAP_NAMES,
  PROGRAMS,
  STATS,
  VERDICT_KINDS,
  decodeConnectionKey,
  decodeCounter,
  decodeFlowRecord,
  decodeVerdictCount,
  decodeVerdictKey,
  encodeConnection,
  encodeConnectionKey,
  encodePolicyKey,
  encodePolicyValue,
  encodePrefixKey,
  encodePrefixValue,
  decodeTraffic,
  decodeTrafficKey,
  encodeIndex,
  encodeIpv4,
  encodeLocalEndpoint,
  encodeNodeConfig,
  encodeRemoteEndpoint,
  encodeVtep,
  type ConnectionKey,
  type DropReason,
  type FlowRecord,
  type PolicyKey,
  type PolicyValue,
  type PrefixKey,
  type VerdictKind,
  type LocalEndpointValue,
  type NodeConfigInput,
  type RemoteEndpointValue,
  type Stat,
  type TrafficKey,
  type VtepValue,
} from '../maps';

export const BPF_DIR = join(__dirname, '..');
export const BUILD_DIR = join(BPF_DIR, 'build');

export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;

/**
 * Why this machine cannot run the BPF tests, if it cannot: they need root, bpf() and bpffs (as
 * the addon's tests do). A missing compiler is not a reason: buildObjects() fails loudly then.
 */
export function bpfSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/proc/sys/kernel/unprivileged_bpf_disabled')) return 'kernel has no bpf()';
  if (!bpffsMounted()) return 'bpffs is not mounted at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)';
  return undefined;
}

/** `make` in dataplane/bpf: incremental, and safe when several test files run it at once. */
export function buildObjects(): void {
  execFileSync('make', ['-s', '-C', BPF_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * The maps' contents: endpoints and VTEPs keyed by dotted-quad IPv4, the policy rows, the
 * prefixes, and the connections conntrack knows before the run (none unless told: setWorld
 * clears what earlier runs opened).
 */
export interface World {
  readonly locals: Readonly<Record<string, LocalEndpointValue>>;
  readonly remotes: Readonly<Record<string, RemoteEndpointValue>>;
  readonly vteps: Readonly<Record<string, VtepValue>>;
  readonly policy?: ReadonlyArray<{ readonly key: PolicyKey; readonly value: PolicyValue }>;
  readonly prefixes?: ReadonlyArray<{ readonly key: PrefixKey; readonly identity: number }>;
  readonly connections?: readonly ConnectionKey[];
}

/** struct __sk_buff fields BPF_PROG_RUN takes from user space (offsets from linux/bpf.h). */
export interface SkbContext {
  readonly ingressIfindex?: number;
  readonly gsoSegs?: number;
  readonly gsoSize?: number;
}

const SKB_SIZE = 192;
const SKB_INGRESS_IFINDEX = 36;
const SKB_GSO_SEGS = 164;
const SKB_GSO_SIZE = 176;

export function skbContext(context: SkbContext): Buffer {
  const ctx = Buffer.alloc(SKB_SIZE);
  ctx.writeUInt32LE(context.ingressIfindex ?? 0, SKB_INGRESS_IFINDEX);
  ctx.writeUInt32LE(context.gsoSegs ?? 0, SKB_GSO_SEGS);
  ctx.writeUInt32LE(context.gsoSize ?? 0, SKB_GSO_SIZE);
  return ctx;
}

export type DropCounts = Partial<Record<DropReason, number>>;
export type StatCounts = Partial<Record<Stat, number>>;

export interface TrafficDelta extends TrafficKey {
  readonly packets: number;
  readonly bytes: number;
}

/** What strata_verdicts counted for one rule and kind during a run. */
export interface VerdictDelta {
  readonly rule: number;
  readonly kind: VerdictKind;
  readonly packets: number;
  readonly bytes: number;
}

export interface RunResult {
  readonly action: number;
  readonly data: Buffer;
  /** Counters that changed during the run, by name (unchanged ones are left out). */
  readonly drops: DropCounts;
  readonly stats: StatCounts;
  readonly traffic: TrafficDelta[];
  /** Policy verdicts counted, by rule then kind. */
  readonly verdicts: VerdictDelta[];
  /** Connections conntrack opened during the run. */
  readonly opened: ConnectionKey[];
}

export interface RunOptions {
  /** TC: the __sk_buff fields. */
  readonly skb?: SkbContext;
  /** XDP: the ingress interface (must exist in `netns`, or the current namespace). */
  readonly ifindex?: number;
  readonly netns?: string;
  readonly repeat?: number;
}

/** One loaded program object with its maps, under its own pin root. */
export class DataplaneFixture {
  readonly #object: BpfObject;
  readonly #program: string;
  readonly #pinRoot: string;
  #world: World = { locals: {}, remotes: {}, vteps: {} };

  private constructor(object: BpfObject, program: string, pinRoot: string) {
    this.#object = object;
    this.#program = program;
    this.#pinRoot = pinRoot;
  }

  /** Loads `program`'s object; its maps are pinned under pinRoot (removed again by close()). */
  static async load(
    program: keyof typeof PROGRAMS,
    config: NodeConfigInput,
    pinRoot: string,
  ): Promise<DataplaneFixture> {
    const { object, program: name } = PROGRAMS[program];
    const loaded = await loadObject(join(BUILD_DIR, object), {
      rodata: { [CONFIG_VARIABLE]: encodeNodeConfig(config) },
      pinRoot,
    });
    return new DataplaneFixture(loaded, name, pinRoot);
  }

  map(name: string): BpfMap {
    return this.#object.map(name);
  }

  /** Makes the endpoint and VTEP maps hold exactly `world`. */
  setWorld(world: World): void {
    sync(this.map(MAP_NAMES.locals), this.#world.locals, world.locals, encodeLocalEndpoint);
    sync(this.map(MAP_NAMES.remotes), this.#world.remotes, world.remotes, encodeRemoteEndpoint);
    sync(this.map(MAP_NAMES.vteps), this.#world.vteps, world.vteps, encodeVtep);
    syncRows(
      this.map(MAP_NAMES.policy),
      (world.policy ?? []).map(({ key, value }) => [
        encodePolicyKey(key),
        encodePolicyValue(value),
      ]),
    );
    syncRows(
      this.map(MAP_NAMES.prefixes),
      (world.prefixes ?? []).map(({ key, identity }) => [
        encodePrefixKey(key),
        encodePrefixValue({ identity }),
      ]),
    );
    syncRows(
      this.map(MAP_NAMES.conntrack),
      (world.connections ?? []).map((key) => [encodeConnectionKey(key), encodeConnection(1n)]),
    );
    this.#world = world;
  }

  /** Forgets every connection conntrack holds (the next packet of each is checked again). */
  clearConnections(): void {
    const keys = this.map(MAP_NAMES.conntrack).keys();
    if (keys.length > 0) this.map(MAP_NAMES.conntrack).deleteBatch(keys);
  }

  /** The connections strata_ct holds. */
  connections(): ConnectionKey[] {
    return this.map(MAP_NAMES.conntrack)
      .keys()
      .map((key) => decodeConnectionKey(key));
  }

  /** Runs one frame and reports the verdict, the output and every counter that moved. */
  run(data: Buffer, options: RunOptions = {}): RunResult {
    const before = this.#counters();
    const connectionsBefore = new Set(
      this.map(MAP_NAMES.conntrack)
        .keys()
        .map((key) => key.toString('hex')),
    );
    const result = this.#object.program(this.#program).testRun({
      data,
      ctxIn: options.skb ? skbContext(options.skb) : undefined,
      ifindex: options.ifindex,
      netns: options.netns,
      repeat: options.repeat,
    });
    const after = this.#counters();
    return {
      action: result.retval,
      data: result.data,
      drops: delta(DROP_REASONS, before.drops, after.drops),
      stats: delta(STATS, before.stats, after.stats),
      traffic: trafficDelta(before.traffic, after.traffic),
      verdicts: verdictDelta(before.verdicts, after.verdicts),
      opened: this.map(MAP_NAMES.conntrack)
        .keys()
        .filter((key) => !connectionsBefore.has(key.toString('hex')))
        .map((key) => decodeConnectionKey(key)),
    };
  }

  /** Drains the flow ring buffer. */
  flowRecords(): FlowRecord[] {
    const records: FlowRecord[] = [];
    const ring = new RingBuffer(this.map(MAP_NAMES.flows), (record) => {
      records.push(decodeFlowRecord(record));
    });
    try {
      ring.consume();
    } finally {
      ring.close();
    }
    return records;
  }

  /** Releases the object's fds; its pinned maps stay (as when an agent restarts). */
  release(): void {
    this.#object.close();
  }

  /** Releases the object and removes its pin root. */
  close(): void {
    this.release();
    rmSync(this.#pinRoot, { recursive: true, force: true });
  }

  #counters(): {
    drops: bigint[];
    stats: bigint[];
    traffic: Map<string, TrafficDelta>;
    verdicts: Map<string, VerdictDelta>;
  } {
    const read = (map: BpfMap, count: number): bigint[] =>
      Array.from({ length: count }, (_, index) => {
        const value = map.lookup(encodeIndex(index));
        return value === undefined ? 0n : decodeCounter(value);
      });
    const traffic = new Map<string, TrafficDelta>();
    for (const [key, value] of this.map(MAP_NAMES.traffic).entries()) {
      const decodedKey = decodeTrafficKey(key);
      const count = decodeTraffic(value);
      traffic.set(key.toString('hex'), {
        ...decodedKey,
        packets: Number(count.packets),
        bytes: Number(count.bytes),
      });
    }
    const verdicts = new Map<string, VerdictDelta>();
    for (const [key, value] of this.map(MAP_NAMES.verdicts).entries()) {
      const count = decodeVerdictCount(value);
      verdicts.set(key.toString('hex'), {
        ...decodeVerdictKey(key),
        packets: Number(count.packets),
        bytes: Number(count.bytes),
      });
    }
    return {
      drops: read(this.map(MAP_NAMES.drops), DROP_REASONS.length),
      stats: read(this.map(MAP_NAMES.stats), STATS.length),
      traffic,
      verdicts,
    };
  }
}

function sync<Value>(
  map: BpfMap,
  current: Readonly<Record<string, Value>>,
  desired: Readonly<Record<string, Value>>,
  encode: (value: Value) => Buffer,
): void {
  for (const address of Object.keys(current)) {
    if (!(address in desired)) map.delete(encodeIpv4(address));
  }
  for (const [address, value] of Object.entries(desired)) {
    map.update(encodeIpv4(address), encode(value));
  }
}

/** Makes `map` hold exactly `rows` (encoded key, value). */
function syncRows(map: BpfMap, rows: ReadonlyArray<readonly [Buffer, Buffer]>): void {
  const wanted = new Set(rows.map(([key]) => key.toString('hex')));
  for (const key of map.keys()) if (!wanted.has(key.toString('hex'))) map.delete(key);
  for (const [key, value] of rows) map.update(key, value);
}

function verdictDelta(
  before: Map<string, VerdictDelta>,
  after: Map<string, VerdictDelta>,
): VerdictDelta[] {
  const changed: VerdictDelta[] = [];
  for (const [key, count] of after) {
    const previous = before.get(key);
    const packets = count.packets - (previous?.packets ?? 0);
    const bytes = count.bytes - (previous?.bytes ?? 0);
    if (packets !== 0 || bytes !== 0) changed.push({ ...count, packets, bytes });
  }
  return changed.sort(
    (a, b) => a.rule - b.rule || VERDICT_KINDS.indexOf(a.kind) - VERDICT_KINDS.indexOf(b.kind),
  );
}

function delta<Name extends string>(
  names: readonly Name[],
  before: bigint[],
  after: bigint[],
): Partial<Record<Name, number>> {
  const changed: Partial<Record<Name, number>> = {};
  names.forEach((name, index) => {
    const difference = after[index] - before[index];
    if (difference !== 0n) changed[name] = Number(difference);
  });
  return changed;
}

function trafficDelta(
  before: Map<string, TrafficDelta>,
  after: Map<string, TrafficDelta>,
): TrafficDelta[] {
  const changed: TrafficDelta[] = [];
  for (const [key, count] of after) {
    const previous = before.get(key);
    const packets = count.packets - (previous?.packets ?? 0);
    const bytes = count.bytes - (previous?.bytes ?? 0);
    if (packets !== 0 || bytes !== 0) changed.push({ ...count, packets, bytes });
  }
  return changed;
}

/**
 * The outer UDP source port tc_pod_egress/xdp_pod_egress pick for a packet without skb->hash
 * (lib/vxlan.h vxlan_source_port), with the same arithmetic: words as a little-endian CPU reads
 * the network-order bytes. Fragments hash with ports 0.
 */
export function expectedSourcePort(flow: {
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly sport?: number;
  readonly dport?: number;
}): number {
  const word = (address: string): number => encodeIpv4(address).readUInt32LE(0);
  const swap16 = (port: number): number => ((port & 0xff) << 8) | (port >>> 8);
  const ports = (swap16(flow.sport ?? 0) | (swap16(flow.dport ?? 0) << 16)) >>> 0;
  let hash = (word(flow.src) ^ word(flow.dst) ^ flow.protocol ^ ports) >>> 0;
  hash = (hash ^ (hash >>> 16)) >>> 0;
  hash = Math.imul(hash, 0x45d9f3b) >>> 0;
  hash = (hash ^ (hash >>> 16)) >>> 0;
  return 49152 | (hash & 0x3fff);
}

/** A pin root only this process uses: /sys/fs/bpf/stb-<pid>-<name>. */
export function privatePinRoot(name: string): string {
  return `/sys/fs/bpf/stb-${process.pid}-${name}`;
}
