import type { AgentPolicyRuleCounters } from '@strata/bus';
import {
  BpfError,
  bpffsMounted,
  ifindexOf,
  loadObject,
  type BpfMap,
  type BpfObject,
  type BpfProgram,
} from '@strata/dataplane';
import {
  emptyTables,
  INTERFACE_PREFIX,
  type EntryOf,
  type ForwardingTables,
  type LocalEndpointEntry,
  type RemoteEndpointEntry,
  type TableName,
  type VtepEntry,
} from '@strata/forwarding';
import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import {
  CONFIG_VARIABLE,
  MAP_NAMES,
  NODE_CONFIG_DEFAULTS,
  PROGRAMS,
  VERDICT_KINDS,
  connectionKeyDecoder,
  decodeConnection,
  decodeIpv4,
  encodeIpv4,
  encodeVerdictKey,
  encodeNodeConfig,
} from '../../../../dataplane/bpf/maps';
import type { DataplaneOperations } from '../dataplane';
import {
  connectionVerdict,
  DEFAULT_IDLE_TIMEOUTS,
  idleTooLong,
  memoizedLookup,
  type IdleTimeouts,
} from './conntrack';
import {
  countersToPrometheus,
  policyRulesToPrometheus,
  readCounters,
  readPolicyRules,
  type DataplaneCounters,
} from './counters';
import { listLinks, tcPrograms, type Link } from './links';
import {
  localValue,
  remoteValue,
  STALE_VTEP_PREFIX,
  viewLocal,
  viewRemote,
  viewVteps,
  VTEP_VALUE,
} from './map-view';
import {
  InvalidTableEntry,
  policyMapKey,
  policyMapValue,
  policyTableKey,
  prefixMapKey,
  prefixMapValue,
  prefixTableKey,
  viewPolicy,
  viewPrefix,
  type PolicyTableEntry,
  type PrefixTableEntry,
  type RuleTableEntry,
} from './policy-view';

export type BpfMode = 'tc' | 'xdp';
export const BPF_MODES: readonly BpfMode[] = ['tc', 'xdp'];

/** VXLAN (outer IPv4 + UDP + VXLAN + inner Ethernet) takes 50 bytes of the underlay MTU. */
export const VXLAN_OVERHEAD = 50;
/** The pod MTU when the underlay's cannot be read: a 1500-byte underlay's. */
export const FALLBACK_POD_MTU = NODE_CONFIG_DEFAULTS.podMtu;
const MIN_POD_MTU = 68;
const MAX_POD_MTU = 65_535 - VXLAN_OVERHEAD;

/** The tc filter slot Strata's programs take on a clsact ingress hook. */
const TC_SLOT = { handle: 1, priority: 1 } as const;

/** Host-side pod veths: interfaceName(uid). */
const POD_INTERFACE = new RegExp(`^${INTERFACE_PREFIX}[a-z2-7]{11}$`);
const STRATA_XDP_PROGRAMS: ReadonlySet<string> = new Set([
  PROGRAMS.xdpPodEgress.program,
  PROGRAMS.xdpUnderlayIngress.program,
]);
const STRATA_TC_PROGRAMS: ReadonlySet<string> = new Set([
  PROGRAMS.tcPodEgress.program,
  PROGRAMS.tcUnderlayIngress.program,
]);

export interface BpfDataplaneOptions {
  /** This node's VTEP: outer source address, and the only outer destination decapsulated. */
  readonly vtepAddress: string;
  /** The underlay interface's MAC (outer source MAC). */
  readonly vtepMac: string;
  /** The underlay interface in the node's namespace, e.g. `ul0`. */
  readonly underlayInterface: string;
  /**
   * The node's network namespace, e.g. `/run/netns/node-1`; default the agent's own. Underlay
   * and pod veths are looked up and programs attached there; the agent stays where it is.
   */
  readonly netns?: string;
  /** Where the maps are pinned (bpffs), e.g. /sys/fs/bpf/strata/<node>. Created if missing. */
  readonly pinDir: string;
  /** Default tc. */
  readonly mode?: BpfMode;
  /** Every pod's MTU. Default: the underlay's MTU - 50, or 1450 when it cannot be read. */
  readonly podMtu?: number;
  /** The underlay next hop for every VTEP (routed underlay); default none (VTEPs on link). */
  readonly nextHopMac?: string;
  /** The MAC of every host-side pod veth. Default ee:ee:ee:ee:ee:ee. */
  readonly gatewayMac?: string;
  /** Directory of the compiled objects. Default dataplane/bpf/build of this checkout. */
  readonly objectDir?: string;
  /**
   * How often local endpoints whose veth did not exist yet are tried again. Default 1,000 ms;
   * 0: only when the reconciler writes them again (a resync).
   */
  readonly pendingRetryMs?: number;
  /**
   * How long a tracked connection may be idle before a resync (read) removes it, per protocol
   * (conntrack.ts: default TCP/SCTP 6 h, other 60 s).
   */
  readonly idleTimeouts?: Partial<IdleTimeouts>;
  readonly onWarning?: (error: Error) => void;
}

/** The node configuration the objects were loaded with. */
export interface BpfDataplaneConfig {
  readonly mode: BpfMode;
  readonly netns: string | undefined;
  readonly pinDir: string;
  readonly underlayInterface: string;
  readonly underlayIfindex: number;
  readonly podMtu: number;
  readonly idleTimeouts: IdleTimeouts;
}

/** What one walk of strata_ct removed. */
export interface ConnectionSweep {
  /** Entries the current tables deny, or whose addresses are no local pod any more. */
  readonly revoked: number;
  /** Entries idle longer than their timeout. */
  readonly expired: number;
  /** Entries walked. */
  readonly walked: number;
}

interface WrittenLocal {
  readonly entry: LocalEndpointEntry;
  readonly ifindex: number;
}

type Entries<T extends TableName> = ReadonlyArray<{
  readonly key: string;
  readonly entry: EntryOf<T>;
}>;

/** The policy tables of libs/forwarding (docs/policy.md), handled apart from the endpoint ones. */
type PolicyTable = 'policy' | 'prefixes' | 'rules';
type PolicyTableEntries = ReadonlyArray<{ readonly key: string; readonly entry: unknown }>;

/** A map-backed table's shadow: encoded map key (hex) → the table key and entry written. */
type Written<Entry> = Map<string, { readonly key: string; readonly entry: Entry }>;

/**
 * The node's dataplane in BPF maps: DataplaneOperations over the pinned maps of the Strata
 * programs (dataplane/bpf), which it loads and attaches.
 *
 * - **Open** loads the pod and underlay objects of the mode with this node's configuration in
 *   rodata and the maps pinned under `pinDir`. Pinned maps are reused, so a restarted agent
 *   finds its entries in place; the new underlay program replaces the old one on the hook in one
 *   netlink operation (tc filter replace, XDP replace), so forwarding has no gap. Programs of the
 *   other mode left on the node's interfaces by an earlier run are detached.
 * - **local** → strata_locals, keyed by pod IP. The entry needs the ifindex of its host-side veth
 *   `interfaceName` in the node namespace, and the pod program is attached to that veth first (a
 *   pod is never forwarded without anti-spoofing). A veth that does not exist yet is not an
 *   error: its entry is parked (and any old value under its IP removed), reported once through
 *   onWarning, tried again every `pendingRetryMs` and on every resync, and written as soon as
 *   the veth appears. Failing the write instead would hold back every other table's changes,
 *   and this node's applied position, behind one slow CNI. A deleted entry leaves the program on
 *   its veth: without an entry, the pod can send nothing.
 * - **remote** → strata_remotes, keyed by pod IP.
 * - **vteps** → strata_vteps, keyed by VTEP address (value: no flags). The table is keyed by
 *   node name, so the dataplane keeps which nodes claim each address: two nodes with one address
 *   share the map entry, which goes only when the last of them does. An address in the map that
 *   no node claims (a previous run's, after a restart) is read as `@<address>`; deleting that key
 *   takes effect after the current write (end of this table's updates, or the next turn of the
 *   event loop), so a resync that deletes `@10.0.0.2` and then writes `node-2` at 10.0.0.2 never
 *   removes the key in between.
 * - **read** compares every map entry with the shadow of what was written (see map-view.ts), and
 *   checks the underlay and every written pod veth still carry their programs (re-attaching what
 *   is missing).
 * - **policy** → strata_policy and **prefixes** → strata_prefixes (LPM tries): the string keys
 *   of docs/policy.md parsed into the map keys (policy-view.ts).
 * - **strata_ct** (conntrack.ts): after a batch that changed `policy`, `prefixes`, `local` or
 *   `remote` (`endBatch`, which writeDelta calls; else the next `read`), every tracked connection
 *   is checked against the tables as now written, as the programs would check its opening
 *   packet, and only those now denied (or whose addresses are no local pod any more) are
 *   deleted: established connections survive unrelated policy changes, and none outlives the
 *   policy that allowed it. Never in the middle of a batch, whose half-written tables could deny
 *   what the whole batch allows. `read` (the periodic resync) also removes entries idle longer
 *   than `idleTimeouts`; `sweepConnections` does both on demand.
 * - **rules** is kept in memory only: it names the strata_verdicts counters (`policyRules()`,
 *   the agent's status, `strata_agent_policy_packets_total`); a rule's counters are deleted
 *   with it.
 * - Entries the codecs reject (a MAC, VNI or address out of range, a policy key that does not
 *   parse: InvalidTableEntry) are skipped and reported once, rather than failing every write
 *   after them forever.
 *
 * Operations run one at a time. `close()` releases the objects but leaves pins and attachments,
 * so traffic keeps flowing while the agent is down; `detachAll()` and `unpinAll()` tear down.
 */
export class BpfDataplane implements DataplaneOperations {
  readonly kind = 'bpf';
  /** Map operations done (entries written or removed), entries waiting and rejected. */
  readonly stats = {
    updates: 0,
    deletes: 0,
    prunes: 0,
    parked: 0,
    rejected: 0,
    attaches: 0,
    /** strata_ct entries removed because the tables no longer allow them (or nobody local). */
    connectionsRevoked: 0,
    /** strata_ct entries removed because they were idle too long. */
    connectionsExpired: 0,
    /** Walks of strata_ct, and how long the last one took (ms). */
    conntrackWalks: 0,
    lastWalkMs: 0,
  };
  private readonly maps: Readonly<
    Record<
      | 'locals'
      | 'remotes'
      | 'vteps'
      | 'drops'
      | 'stats'
      | 'traffic'
      | 'policy'
      | 'prefixes'
      | 'conntrack'
      | 'verdicts',
      BpfMap
    >
  >;
  private readonly podProgram: BpfProgram;
  private readonly underlayProgram: BpfProgram;
  private readonly locals = new Map<string, WrittenLocal>();
  /** Local entries waiting for their veth. */
  private readonly parked = new Map<string, LocalEndpointEntry>();
  private readonly remotes = new Map<string, RemoteEndpointEntry>();
  private readonly vteps = new Map<string, VtepEntry>();
  /** VTEP address → the names of the nodes that claim it. */
  private readonly owners = new Map<string, Set<string>>();
  /** Unclaimed VTEP addresses whose `@` key was deleted: removed after the current write. */
  private readonly orphans = new Set<string>();
  private readonly policy: Written<PolicyTableEntry> = new Map();
  private readonly prefixes: Written<PrefixTableEntry> = new Map();
  /** The `rules` table: no map, the names of the verdict counters. */
  private readonly rules = new Map<string, RuleTableEntry>();
  /** Interfaces this process attached the pod program to, with their ifindex then. */
  private readonly attached = new Map<string, number>();
  /** Problems reported once per key, until they change. */
  private readonly reported = new Map<string, string>();
  private tail: Promise<unknown> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  /**
   * The local, remote, policy and prefix maps as tables: what the programs' policy sees, for
   * checking tracked connections. Loaded from the maps at open and by every read, kept current
   * by every write, so it holds a previous run's entries too (never empty after a restart).
   */
  private readonly view = emptyTables();
  /** Tables tracked connections depend on changed since the last revalidation. */
  private revalidationPending = false;
  private closed = false;

  private constructor(
    readonly config: BpfDataplaneConfig,
    private readonly objects: readonly [pod: BpfObject, underlay: BpfObject],
    private readonly onWarning: (error: Error) => void,
  ) {
    const [pod, underlay] = objects;
    this.maps = {
      locals: pod.map(MAP_NAMES.locals),
      remotes: pod.map(MAP_NAMES.remotes),
      vteps: pod.map(MAP_NAMES.vteps),
      drops: pod.map(MAP_NAMES.drops),
      stats: pod.map(MAP_NAMES.stats),
      traffic: pod.map(MAP_NAMES.traffic),
      policy: pod.map(MAP_NAMES.policy),
      prefixes: pod.map(MAP_NAMES.prefixes),
      conntrack: pod.map(MAP_NAMES.conntrack),
      verdicts: pod.map(MAP_NAMES.verdicts),
    };
    this.podProgram = pod.program(programsOf(config.mode).pod.program);
    this.underlayProgram = underlay.program(programsOf(config.mode).underlay.program);
  }

  /** Loads the node's programs, attaches the underlay one, and starts retrying parked entries. */
  static async open(options: BpfDataplaneOptions): Promise<BpfDataplane> {
    const mode = options.mode ?? 'tc';
    if (!BPF_MODES.includes(mode)) throw new Error(`bpf dataplane: unknown mode '${mode}'`);
    const { netns, underlayInterface, pinDir } = options;
    if (netns !== undefined && !existsSync(netns)) {
      throw new Error(`bpf dataplane: network namespace ${netns} does not exist`);
    }
    const where = netns === undefined ? 'this network namespace' : netns;
    const onWarning = options.onWarning ?? (() => undefined);
    const objectDir = options.objectDir ?? findObjectDir();
    const underlayIfindex = interfaceIndex(underlayInterface, netns);
    if (underlayIfindex === undefined) {
      throw new Error(
        `bpf dataplane: underlay interface ${underlayInterface} not found in ${where}`,
      );
    }
    let links: Link[] | undefined;
    try {
      links = await listLinks(netns);
    } catch (error) {
      onWarning(new Error(`bpf dataplane: cannot list interfaces: ${(error as Error).message}`));
    }
    const idleTimeouts = { ...DEFAULT_IDLE_TIMEOUTS, ...options.idleTimeouts };
    for (const [protocol, ms] of Object.entries(idleTimeouts)) {
      if (!Number.isFinite(ms) || ms <= 0) {
        throw new Error(`bpf dataplane: idle timeout ${protocol} must be a positive number of ms`);
      }
    }
    const podMtu = options.podMtu ?? defaultPodMtu(links, underlayInterface);
    if (!Number.isInteger(podMtu) || podMtu < MIN_POD_MTU || podMtu > MAX_POD_MTU) {
      throw new Error(`bpf dataplane: pod MTU must be an integer ${MIN_POD_MTU}-${MAX_POD_MTU}`);
    }
    let rodata: Buffer;
    try {
      rodata = encodeNodeConfig({
        vtepAddress: options.vtepAddress,
        vtepMac: options.vtepMac,
        underlayIfindex,
        nexthopMac: options.nextHopMac ?? null,
        gatewayMac: options.gatewayMac ?? NODE_CONFIG_DEFAULTS.gatewayMac,
        podMtu,
      });
    } catch (error) {
      throw new Error(`bpf dataplane: ${(error as Error).message}`);
    }
    preparePinDir(pinDir);

    const programs = programsOf(mode);
    const load = (object: string) =>
      loadObject(join(objectDir, object), {
        rodata: { [CONFIG_VARIABLE]: rodata },
        pinRoot: pinDir,
      }).catch((error: unknown) => {
        throw new Error(
          `bpf dataplane: loading ${object} with its maps pinned under ${pinDir}: ` +
            `${(error as Error).message}` +
            ((error as BpfError).code === 'EINVAL'
              ? ' (maps pinned by an incompatible build? remove the pin directory)'
              : ''),
          { cause: error },
        );
      });
    const pod = await load(programs.pod.object);
    let underlay: BpfObject;
    try {
      underlay = await load(programs.underlay.object);
    } catch (error) {
      pod.close();
      throw error;
    }
    const config: BpfDataplaneConfig = {
      mode,
      netns,
      pinDir,
      underlayInterface,
      underlayIfindex,
      podMtu,
      idleTimeouts,
    };
    const dataplane = new BpfDataplane(config, [pod, underlay], onWarning);
    try {
      dataplane.loadView();
      await dataplane.attach(dataplane.underlayProgram, underlayInterface);
      if (links !== undefined) await dataplane.detachOtherMode(links);
    } catch (error) {
      dataplane.closeObjects();
      throw error;
    }
    const retryMs = options.pendingRetryMs ?? 1_000;
    if (retryMs > 0) {
      dataplane.retryTimer = setInterval(() => {
        if (dataplane.parked.size === 0) return;
        dataplane.retryParked().catch((error: unknown) => dataplane.warn(error as Error));
      }, retryMs);
      dataplane.retryTimer.unref();
    }
    return dataplane;
  }

  // --- DataplaneOperations --------------------------------------------------------------------

  update<T extends TableName>(table: T, entries: Entries<T>): Promise<void> {
    return this.exclusive(async () => {
      if (entries.length > 0 && affectsConnections(table)) {
        // An endpoint's entry matters to tracked connections only through its identity.
        const endpoints = table === 'local' || table === 'remote';
        const view = this.view[table] as ReadonlyMap<string, { readonly identity?: number }>;
        if (
          !endpoints ||
          entries.some(
            ({ key, entry }) =>
              view.get(key)?.identity !== (entry as { readonly identity: number }).identity,
          )
        ) {
          this.revalidationPending = true;
        }
      }
      switch (table) {
        case 'local':
          for (const { key, entry } of entries as Entries<'local'>) {
            await this.writeLocal(key, entry);
          }
          break;
        case 'remote':
          for (const { key, entry } of entries as Entries<'remote'>) this.writeRemote(key, entry);
          break;
        case 'vteps':
          for (const { key, entry } of entries as Entries<'vteps'>) this.writeVtep(key, entry);
          // The deletes of this table came first: what no update claimed goes now.
          this.flushOrphans();
          break;
        case 'policy':
        case 'prefixes':
        case 'rules':
          this.updatePolicyTable(table, entries);
          break;
        default: {
          const unknown: never = table;
          throw new Error(`bpf dataplane: unknown table ${String(unknown)}`);
        }
      }
    });
  }

  delete(table: TableName, keys: readonly string[]): Promise<void> {
    return this.exclusive(() => {
      let removed = 0;
      for (const key of keys) if (this.remove(table, key)) removed++;
      if (removed > 0 && affectsConnections(table)) this.revalidationPending = true;
      if (this.orphans.size > 0) {
        // No update of this table followed in this turn: the orphans go on the next one.
        setImmediate(() => {
          this.exclusive(() => this.flushOrphans()).catch(() => undefined);
        });
      }
    });
  }

  prune(table: TableName, keep: (key: string) => boolean): Promise<number> {
    return this.exclusive(() => {
      this.flushOrphans();
      const keys = [...this.keysOf(table)].filter((key) => !keep(key));
      let removed = 0;
      for (const key of keys) if (this.remove(table, key)) removed++;
      this.flushOrphans();
      if (removed > 0 && affectsConnections(table)) this.revalidationPending = true;
      this.stats.prunes += removed;
      return removed;
    });
  }

  read(): Promise<ForwardingTables> {
    return this.exclusive(async () => {
      this.flushOrphans();
      await this.checkUnderlay();
      const tables = emptyTables();
      for (const [key, value] of this.maps.locals.entries()) {
        const ip = decodeIpv4(key);
        const written = this.locals.get(ip);
        const ifindex =
          written === undefined ? undefined : await this.checkPod(written.entry.interfaceName);
        tables.local.set(ip, viewLocal(value, written?.entry, ifindex));
      }
      for (const [key, value] of this.maps.remotes.entries()) {
        const ip = decodeIpv4(key);
        tables.remote.set(ip, viewRemote(value, this.remotes.get(ip)));
      }
      const vtepValues = new Map(
        this.maps.vteps.entries().map(([key, value]) => [decodeIpv4(key), value] as const),
      );
      for (const [key, entry] of viewVteps(vtepValues, this.vteps)) tables.vteps.set(key, entry);
      for (const [mapKey, value] of this.maps.policy.entries()) {
        const [key, entry] = this.viewWritten(this.policy, mapKey, value, viewPolicy, (e) =>
          policyMapValue('', e),
        );
        tables.policy.set(key, entry);
      }
      for (const [mapKey, value] of this.maps.prefixes.entries()) {
        const [key, entry] = this.viewWritten(this.prefixes, mapKey, value, viewPrefix, (e) =>
          prefixMapValue('', e),
        );
        tables.prefixes.set(key, entry);
      }
      for (const [key, entry] of this.rules) tables.rules.set(key, entry);
      for (const table of VIEW_TABLES) {
        const view = this.view[table] as Map<string, unknown>;
        view.clear();
        for (const [key, entry] of tables[table]) view.set(key, entry);
      }
      await this.sweep(process.hrtime.bigint());
      return tables;
    });
  }

  /** After a delta's writes: revalidates the tracked connections if the batch changed tables. */
  endBatch(): Promise<void> {
    return this.exclusive(async () => {
      if (this.revalidationPending) await this.sweep(undefined);
    });
  }

  /** Releases the objects after the operation in flight; pins and attachments stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retryTimer);
    await this.tail;
    this.closeObjects();
  }

  // --- beyond the interface -------------------------------------------------------------------

  /** Counters of the programs, summed over CPUs. */
  counters(): DataplaneCounters {
    if (this.closed) throw new Error('bpf dataplane: closed');
    return readCounters(this.maps);
  }

  metrics(node: string): string {
    return (
      countersToPrometheus(node, this.counters()) +
      policyRulesToPrometheus(node, this.policyRules())
    );
  }

  /** strata_verdicts per rule, named through the `rules` table. */
  policyRules(): AgentPolicyRuleCounters[] {
    if (this.closed) throw new Error('bpf dataplane: closed');
    return readPolicyRules(this.maps.verdicts, this.rules);
  }

  /**
   * Walks strata_ct now: removes the connections the written tables deny (always) and those
   * idle longer than their timeout at `nowNs` (CLOCK_MONOTONIC ns, as bpf_ktime_get_ns and
   * process.hrtime.bigint(); default now). A test passes a later `nowNs` to expire what it
   * opened without waiting.
   */
  sweepConnections(nowNs: bigint = process.hrtime.bigint()): Promise<ConnectionSweep> {
    return this.exclusive(() => this.sweep(nowNs));
  }

  /** Local endpoints waiting for their veth: pod IP → interface name. */
  get parkedEntries(): ReadonlyMap<string, string> {
    return new Map([...this.parked].map(([ip, entry]) => [ip, entry.interfaceName]));
  }

  /** Tries the parked local entries now; resolves with how many were written. */
  retryParked(): Promise<number> {
    return this.exclusive(async () => {
      let written = 0;
      for (const [ip, entry] of [...this.parked]) {
        await this.writeLocal(ip, entry);
        if (this.locals.has(ip)) written++;
      }
      return written;
    });
  }

  /**
   * Detaches Strata's programs from the underlay and from every pod veth in the namespace
   * (teardown; the agent never does this itself). Call before close().
   */
  detachAll(): Promise<void> {
    return this.exclusive(async () => {
      const { underlayInterface, netns } = this.config;
      const links = await listLinks(netns);
      const names = new Set([
        ...this.attached.keys(),
        ...[...this.locals.values()].map((l) => l.entry.interfaceName),
      ]);
      for (const link of links) if (POD_INTERFACE.test(link.ifname)) names.add(link.ifname);
      const present = new Map(links.map((link) => [link.ifname, link]));
      for (const name of names) {
        if (!present.has(name)) continue;
        await this.podProgram.detachTc(name, 'ingress', { netns, ...TC_SLOT });
        await this.podProgram.detachXdp(name, { netns });
      }
      const underlay = present.get(underlayInterface);
      if (underlay !== undefined) {
        if ((await tcPrograms(netns, underlayInterface, 'ingress')).some(isStrataTc)) {
          await this.podProgram.detachTc(underlayInterface, 'ingress', { netns, ...TC_SLOT });
        }
        if (underlay.xdpProgram !== undefined && STRATA_XDP_PROGRAMS.has(underlay.xdpProgram)) {
          await this.podProgram.detachXdp(underlayInterface, { netns });
        }
      }
      this.attached.clear();
    });
  }

  /** Removes the map pins and the pin directory if nothing else is in it (teardown). */
  unpinAll(): void {
    for (const name of Object.values(MAP_NAMES)) {
      rmSync(join(this.config.pinDir, name), { force: true });
    }
    try {
      rmdirSync(this.config.pinDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw error;
    }
  }

  // --- tables ---------------------------------------------------------------------------------

  private async writeLocal(ip: string, entry: LocalEndpointEntry): Promise<void> {
    const where = `local ${ip}`;
    let key: Buffer;
    try {
      key = encodeIpv4(ip);
      localValue(entry, 0);
    } catch (error) {
      this.reject(where, (error as Error).message);
      this.removeLocal(ip);
      return;
    }
    const name = entry.interfaceName;
    let ifindex = interfaceIndex(name, this.config.netns);
    if (ifindex !== undefined && this.attached.get(name) !== ifindex) {
      ifindex = await this.attachPod(name, ifindex);
    }
    if (ifindex === undefined) {
      this.removeLocal(ip);
      this.parked.set(ip, entry);
      this.stats.parked = this.parked.size;
      this.reportOnce(
        where,
        `interface ${name} of ${entry.uid} not found in ` +
          `${this.config.netns ?? 'this network namespace'}: ` +
          'its entry waits for it',
      );
      return;
    }
    this.maps.locals.update(key, localValue(entry, ifindex));
    this.view.local.set(ip, entry);
    this.locals.set(ip, { entry, ifindex });
    this.parked.delete(ip);
    this.stats.parked = this.parked.size;
    this.stats.updates++;
    this.reported.delete(where);
  }

  private writeRemote(ip: string, entry: RemoteEndpointEntry): void {
    const where = `remote ${ip}`;
    let key: Buffer;
    let value: Buffer;
    try {
      key = encodeIpv4(ip);
      value = remoteValue(entry);
    } catch (error) {
      this.reject(where, (error as Error).message);
      this.remove('remote', ip);
      return;
    }
    this.maps.remotes.update(key, value);
    this.view.remote.set(ip, entry);
    this.remotes.set(ip, entry);
    this.stats.updates++;
    this.reported.delete(where);
  }

  private writeVtep(name: string, entry: VtepEntry): void {
    const where = `vtep ${name}`;
    let key: Buffer;
    try {
      if (name.startsWith(STALE_VTEP_PREFIX)) throw new Error(`not a node name`);
      key = encodeIpv4(entry.address);
    } catch (error) {
      this.reject(where, (error as Error).message);
      this.remove('vteps', name);
      return;
    }
    const previous = this.vteps.get(name);
    if (previous !== undefined && previous.address !== entry.address) {
      this.release(name, previous.address);
    }
    this.maps.vteps.update(key, VTEP_VALUE);
    this.vteps.set(name, entry);
    let owners = this.owners.get(entry.address);
    if (owners === undefined) this.owners.set(entry.address, (owners = new Set()));
    owners.add(name);
    this.orphans.delete(entry.address);
    this.stats.updates++;
    this.reported.delete(where);
  }

  /** Removes one key; true if the dataplane had it. A missing key is fine. */
  private remove(table: TableName, key: string): boolean {
    switch (table) {
      case 'local':
        return this.removeLocal(key);
      case 'remote': {
        const had = this.remotes.delete(key);
        if (this.view.remote.delete(key)) this.revalidationPending = true;
        return this.deleteKey(this.maps.remotes, key) || had;
      }
      case 'vteps': {
        if (key.startsWith(STALE_VTEP_PREFIX)) {
          const address = key.slice(STALE_VTEP_PREFIX.length);
          if (this.owners.has(address)) return false;
          const mapKey = ipv4Key(address);
          if (mapKey === undefined || this.maps.vteps.lookup(mapKey) === undefined) return false;
          this.orphans.add(address);
          return true;
        }
        const entry = this.vteps.get(key);
        if (entry === undefined) return false;
        this.vteps.delete(key);
        this.release(key, entry.address);
        return true;
      }
      case 'policy':
      case 'prefixes':
      case 'rules':
        return this.removePolicyRow(table, key);
      default: {
        const unknown: never = table;
        throw new Error(`bpf dataplane: unknown table ${String(unknown)}`);
      }
    }
  }

  // --- policy tables --------------------------------------------------------------------------

  private updatePolicyTable(table: PolicyTable, entries: PolicyTableEntries): void {
    switch (table) {
      case 'policy':
        for (const { key, entry } of entries) {
          this.writeRow(this.maps.policy, this.policy, 'policy', key, () => [
            policyMapKey(key),
            policyMapValue(key, entry as PolicyTableEntry),
            entry as PolicyTableEntry,
          ]);
        }
        break;
      case 'prefixes':
        for (const { key, entry } of entries) {
          this.writeRow(this.maps.prefixes, this.prefixes, 'prefixes', key, () => [
            prefixMapKey(key),
            prefixMapValue(key, entry as PrefixTableEntry),
            entry as PrefixTableEntry,
          ]);
        }
        break;
      case 'rules':
        for (const { key, entry } of entries) this.rules.set(key, entry as RuleTableEntry);
        return;
    }
  }

  /** Writes one policy or prefix row; a row that does not fit is rejected, not thrown. */
  private writeRow<Entry>(
    map: BpfMap,
    written: Written<Entry>,
    table: 'policy' | 'prefixes',
    key: string,
    encode: () => [Buffer, Buffer, Entry],
  ): void {
    const where = `${table} ${key}`;
    let encoded: [Buffer, Buffer, Entry];
    try {
      encoded = encode();
    } catch (error) {
      if (!(error instanceof InvalidTableEntry)) throw error;
      this.removePolicyRow(table, key);
      this.reject(where, error.reason);
      return;
    }
    const [mapKey, value, entry] = encoded;
    // Keys parse strictly (decimal without leading zeros), so one table key is one map key.
    map.update(mapKey, value);
    written.set(mapKey.toString('hex'), { key, entry });
    (this.view[table] as Map<string, Entry>).set(key, entry);
    this.stats.updates++;
    this.reported.delete(where);
  }

  private removePolicyRow(table: PolicyTable, key: string): boolean {
    if (table === 'rules') {
      if (!this.rules.delete(key)) return false;
      // Its counters go with it (rule ids are hashes: a new rule will not inherit them), so
      // strata_verdicts holds only the rules in use, and 0 and 1.
      const rule = Number(key);
      if (Number.isInteger(rule) && rule >= 0 && rule <= 0xffffffff) {
        this.maps.verdicts.deleteBatch(
          VERDICT_KINDS.map((kind) => encodeVerdictKey({ rule, kind })),
        );
      }
      return true;
    }
    const [map, written, mapKey] =
      table === 'policy'
        ? [this.maps.policy, this.policy as Written<unknown>, tryKey(() => policyMapKey(key))]
        : [this.maps.prefixes, this.prefixes as Written<unknown>, tryKey(() => prefixMapKey(key))];
    this.reported.delete(`${table} ${key}`);
    // A key that does not parse was never written: nothing to remove.
    if (mapKey === undefined) return false;
    const had = written.delete(mapKey.toString('hex'));
    // One table key is one map key (keys parse strictly): the view's row goes with it.
    this.view[table].delete(key);
    if (!map.delete(mapKey)) return had;
    this.stats.deletes++;
    return true;
  }

  /** A map row as a table row: the written entry when the map holds its encoding. */
  private viewWritten<Entry>(
    written: Written<Entry>,
    mapKey: Buffer,
    value: Buffer,
    view: (key: Buffer, value: Buffer) => [string, Entry],
    encode: (entry: Entry) => Buffer,
  ): [string, Entry] {
    const row = written.get(mapKey.toString('hex'));
    if (row !== undefined) {
      let same = false;
      try {
        same = encode(row.entry).equals(value);
      } catch {
        same = false;
      }
      if (same) return [row.key, row.entry];
    }
    const [key, entry] = view(mapKey, value);
    return [row?.key ?? key, entry];
  }

  /**
   * One walk of strata_ct: deletes the entries the tables as the programs see them deny
   * (connectionVerdict on `view`), and those idle too long at `nowNs` (no idle check if
   * undefined: the values are not even read). Keys are collected first and deleted in one batch;
   * an entry the programs add during the walk was checked against the tables already written.
   * The walk yields to the event loop every SWEEP_CHUNK entries (it runs inside `exclusive`, so no
   * write changes the view meanwhile).
   */
  private async sweep(nowNs: bigint | undefined): Promise<ConnectionSweep> {
    const started = process.hrtime.bigint();
    const map = this.maps.conntrack;
    const tables = this.view;
    const allowed = memoizedLookup(tables);
    const decode = connectionKeyDecoder();
    const keys = map.keys();
    const doomed: Buffer[] = [];
    let revoked = 0;
    let expired = 0;
    for (const [index, key] of keys.entries()) {
      if (index > 0 && index % SWEEP_CHUNK === 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const connection = decode(key);
      if (connectionVerdict(tables, connection, allowed) !== 'kept') {
        doomed.push(key);
        revoked++;
        continue;
      }
      if (nowNs === undefined) continue;
      // Gone since the keys were listed: nothing to reap.
      const value = map.lookup(key);
      if (value === undefined) continue;
      const { lastSeenNs } = decodeConnection(value);
      if (idleTooLong(connection.protocol, lastSeenNs, nowNs, this.config.idleTimeouts)) {
        doomed.push(key);
        expired++;
      }
    }
    if (doomed.length > 0) map.deleteBatch(doomed);
    this.revalidationPending = false;
    this.stats.connectionsRevoked += revoked;
    this.stats.connectionsExpired += expired;
    this.stats.conntrackWalks++;
    this.stats.lastWalkMs = Number(process.hrtime.bigint() - started) / 1e6;
    return { revoked, expired, walked: keys.length };
  }

  /** Loads `view` from the maps as they are (a previous run's entries included). */
  private loadView(): void {
    for (const [key, value] of this.maps.locals.entries()) {
      this.view.local.set(decodeIpv4(key), viewLocal(value, undefined, undefined));
    }
    for (const [key, value] of this.maps.remotes.entries()) {
      this.view.remote.set(decodeIpv4(key), viewRemote(value, undefined));
    }
    for (const [key, value] of this.maps.policy.entries()) {
      const [tableKey, entry] = viewPolicy(key, value);
      this.view.policy.set(tableKey, entry);
    }
    for (const [key, value] of this.maps.prefixes.entries()) {
      const [tableKey, entry] = viewPrefix(key, value);
      this.view.prefixes.set(tableKey, entry);
    }
  }

  private removeLocal(ip: string): boolean {
    const written = this.locals.delete(ip);
    const parked = this.parked.delete(ip);
    this.stats.parked = this.parked.size;
    this.reported.delete(`local ${ip}`);
    // Parked or rejected counts too: the programs no longer see the pod.
    if (this.view.local.delete(ip)) this.revalidationPending = true;
    return this.deleteKey(this.maps.locals, ip) || written || parked;
  }

  /** `name` no longer claims `address`: the map entry goes with its last claimant. */
  private release(name: string, address: string): void {
    const owners = this.owners.get(address);
    owners?.delete(name);
    if (owners !== undefined && owners.size > 0) return;
    this.owners.delete(address);
    this.deleteKey(this.maps.vteps, address);
  }

  private flushOrphans(): void {
    for (const address of this.orphans) {
      if (!this.owners.has(address)) this.deleteKey(this.maps.vteps, address);
    }
    this.orphans.clear();
  }

  private deleteKey(map: BpfMap, address: string): boolean {
    const key = ipv4Key(address);
    if (key === undefined || !map.delete(key)) return false;
    this.stats.deletes++;
    return true;
  }

  /** Every key `read()` would report for `table`, parked locals included. */
  private keysOf(table: TableName): Set<string> {
    const mapKeys = (map: BpfMap) => map.keys().map((key) => decodeIpv4(key));
    switch (table) {
      case 'local':
        return new Set([
          ...this.locals.keys(),
          ...this.parked.keys(),
          ...mapKeys(this.maps.locals),
        ]);
      case 'remote':
        return new Set([...this.remotes.keys(), ...mapKeys(this.maps.remotes)]);
      case 'vteps': {
        const keys = new Set<string>(this.vteps.keys());
        for (const address of mapKeys(this.maps.vteps)) {
          if (!this.owners.has(address)) keys.add(STALE_VTEP_PREFIX + address);
        }
        return keys;
      }
      case 'rules':
        return new Set(this.rules.keys());
      case 'policy':
      case 'prefixes': {
        const [map, written, format] =
          table === 'policy'
            ? [this.maps.policy, this.policy as Written<unknown>, policyTableKey]
            : [this.maps.prefixes, this.prefixes as Written<unknown>, prefixTableKey];
        const keys = new Set<string>();
        for (const mapKey of map.keys()) {
          keys.add(written.get(mapKey.toString('hex'))?.key ?? format(mapKey));
        }
        return keys;
      }
      default: {
        const unknown: never = table;
        throw new Error(`bpf dataplane: unknown table ${String(unknown)}`);
      }
    }
  }

  // --- attachments ----------------------------------------------------------------------------

  private async attach(program: BpfProgram, ifname: string): Promise<void> {
    const { mode, netns } = this.config;
    if (mode === 'tc') await program.attachTc(ifname, 'ingress', { netns, ...TC_SLOT });
    else await program.attachXdp(ifname, { netns, mode: 'native' });
    this.stats.attaches++;
  }

  /** Attaches the pod program to `ifname`; its current ifindex, or undefined if it is gone. */
  private async attachPod(ifname: string, ifindex: number): Promise<number | undefined> {
    try {
      await this.attach(this.podProgram, ifname);
    } catch (error) {
      if (error instanceof BpfError && error.code === 'ENODEV') {
        this.attached.delete(ifname);
        return undefined;
      }
      throw error;
    }
    this.attached.set(ifname, ifindex);
    return ifindex;
  }

  /** The pod veth's current ifindex, with the program (re-)attached; undefined if it is gone. */
  private async checkPod(ifname: string): Promise<number | undefined> {
    const ifindex = interfaceIndex(ifname, this.config.netns);
    return ifindex === undefined ? undefined : this.attachPod(ifname, ifindex);
  }

  private async checkUnderlay(): Promise<void> {
    const { underlayInterface, underlayIfindex, netns } = this.config;
    const ifindex = interfaceIndex(underlayInterface, netns);
    if (ifindex !== underlayIfindex) {
      this.reportOnce(
        'underlay',
        `underlay interface ${underlayInterface} is ` +
          (ifindex === undefined ? 'gone' : `now ifindex ${ifindex}`) +
          ` (the programs were loaded for ifindex ${underlayIfindex}): restart the agent`,
      );
      if (ifindex === undefined) return;
    }
    await this.attach(this.underlayProgram, underlayInterface);
  }

  /** Detaches the other mode's programs an earlier run left on the node's interfaces. */
  private async detachOtherMode(links: readonly Link[]): Promise<void> {
    const { mode, netns, underlayInterface } = this.config;
    for (const link of links) {
      const ours = link.ifname === underlayInterface || POD_INTERFACE.test(link.ifname);
      if (!ours) continue;
      if (mode === 'tc') {
        if (link.xdpProgram !== undefined && STRATA_XDP_PROGRAMS.has(link.xdpProgram)) {
          await this.podProgram.detachXdp(link.ifname, { netns });
        }
      } else if ((await tcPrograms(netns, link.ifname, 'ingress')).some(isStrataTc)) {
        await this.podProgram.detachTc(link.ifname, 'ingress', { netns, ...TC_SLOT });
      }
    }
  }

  // --- plumbing -------------------------------------------------------------------------------

  /** Runs `work` after every operation before it (operations never interleave). */
  private exclusive<T>(work: () => T | Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('bpf dataplane: closed'));
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private closeObjects(): void {
    for (const object of this.objects) object.close();
  }

  private reject(where: string, reason: string): void {
    this.stats.rejected++;
    this.reportOnce(where, `rejected: ${reason}`);
  }

  private reportOnce(where: string, problem: string): void {
    if (this.reported.get(where) === problem) return;
    this.reported.set(where, problem);
    this.warn(new Error(`bpf dataplane: ${where}: ${problem}`));
  }

  private warn(error: Error): void {
    this.onWarning(error);
  }
}

/** Entries a walk of strata_ct checks between two turns of the event loop. */
const SWEEP_CHUNK = 8192;

/** The tables `view` mirrors: what the programs' policy reads. */
const VIEW_TABLES = ['local', 'remote', 'policy', 'prefixes'] as const;

/** Tables whose change may withdraw what allowed a tracked connection. */
function affectsConnections(table: TableName): boolean {
  return table === 'policy' || table === 'prefixes' || table === 'local' || table === 'remote';
}

function tryKey(encode: () => Buffer): Buffer | undefined {
  try {
    return encode();
  } catch {
    return undefined;
  }
}

function programsOf(mode: BpfMode) {
  return mode === 'tc'
    ? { pod: PROGRAMS.tcPodEgress, underlay: PROGRAMS.tcUnderlayIngress }
    : { pod: PROGRAMS.xdpPodEgress, underlay: PROGRAMS.xdpUnderlayIngress };
}

function isStrataTc(program: string): boolean {
  return STRATA_TC_PROGRAMS.has(program);
}

/** The interface's index in `netns`; undefined when it does not exist. */
function interfaceIndex(ifname: string, netns: string | undefined): number | undefined {
  try {
    return ifindexOf(ifname, { netns });
  } catch (error) {
    if (error instanceof BpfError && error.code === 'ENODEV') return undefined;
    throw error;
  }
}

function ipv4Key(address: string): Buffer | undefined {
  try {
    return encodeIpv4(address);
  } catch {
    return undefined;
  }
}

function defaultPodMtu(links: readonly Link[] | undefined, underlay: string): number {
  const mtu = links?.find((link) => link.ifname === underlay)?.mtu ?? 0;
  return mtu - VXLAN_OVERHEAD >= MIN_POD_MTU ? mtu - VXLAN_OVERHEAD : FALLBACK_POD_MTU;
}

function preparePinDir(pinDir: string): void {
  if (!isAbsolute(pinDir)) {
    throw new Error(`bpf dataplane: pin dir ${pinDir} must be an absolute path on bpffs`);
  }
  let existing = pinDir;
  while (!existsSync(existing)) existing = dirname(existing);
  if (!bpffsMounted(existing)) {
    throw new Error(
      `bpf dataplane: pin dir ${pinDir} is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)`,
    );
  }
  mkdirSync(pinDir, { recursive: true, mode: 0o700 });
}

/** dataplane/bpf/build of the checkout this file runs from (source or dist/). */
function findObjectDir(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'dataplane', 'bpf', 'build');
    if (existsSync(join(candidate, PROGRAMS.tcPodEgress.object))) return candidate;
    if (dirname(dir) === dir) {
      throw new Error(
        'bpf dataplane: no compiled BPF objects (dataplane/bpf/build): run make -C dataplane/bpf',
      );
    }
  }
}
