/**
 * The benchmark's lab: two nodes and one pod per node, each in a network namespace of its own
 * named `sbd-<pid>-*`, with the pods wired the way Strata's CNI wires them (host veth
 * `interfaceName(uid)` with the gateway MAC, pod /32, default route via 169.254.1.1 onlink).
 * Every setup runs on this one topology; `destroy()` removes it by name, and kills the
 * processes the lab started, by PID.
 *
 *   pod1 eth0 10.244.1.2/32 ── hv1 ── node1 ul0 192.168.200.1 ══ ul0 192.168.200.2 node2 ── hv2 ── pod2 eth0 10.244.2.2/32
 */
import { interfaceName } from '@strata/forwarding';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

export const VNI = 42;
export const UNDERLAY_MTU = 1500;
/** Every pod's MTU: the underlay's less VXLAN's 50 bytes (the same in every setup). */
export const POD_MTU = 1450;
export const GATEWAY_IP = '169.254.1.1';
export const GATEWAY_MAC = 'ee:ee:ee:ee:ee:ee';
export const UNDERLAY = 'ul0';
export const POD_INTERFACE = 'eth0';

export interface LabNode {
  /** The node's name in the control plane's events. */
  readonly name: string;
  /** Network namespace name. */
  readonly ns: string;
  readonly netns: string;
  readonly vtepAddress: string;
  /** The underlay interface's MAC. */
  readonly vtepMac: string;
  /** Flannel-style: the node's pod CIDR and its kernel VXLAN device's address and MAC. */
  readonly podCidr: string;
  readonly vxlanAddress: string;
  readonly vxlanMac: string;
  /** Where BpfDataplane pins this node's maps. */
  readonly pinDir: string;
}

export interface LabPod {
  readonly uid: string;
  readonly ns: string;
  readonly netns: string;
  readonly ip: string;
  readonly mac: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly node: LabNode;
  /** The host side of its veth, in the node's namespace. */
  readonly hostInterface: string;
}

/** The pod features the setups touch, as `ethtool -k` names them. */
export const OFFLOADS = {
  tx: 'tx-checksumming',
  tso: 'tcp-segmentation-offload',
  gso: 'generic-segmentation-offload',
  gro: 'generic-receive-offload',
} as const;
export type Offload = keyof typeof OFFLOADS;
export type Offloads = Record<Offload, boolean>;

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class Lab {
  readonly prefix: string;
  readonly nodes: readonly [LabNode, LabNode];
  readonly pods: readonly [LabPod, LabPod];
  /** The pods' offloads as the veth driver set them, read after the build. */
  defaultOffloads: Offloads | undefined;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  constructor(pid = process.pid) {
    this.prefix = `sbd-${pid}`;
    const node = (i: 1 | 2): LabNode => ({
      name: `node-${i}`,
      ns: `${this.prefix}-node${i}`,
      netns: `/run/netns/${this.prefix}-node${i}`,
      vtepAddress: `192.168.200.${i}`,
      vtepMac: `02:00:c0:a8:c8:0${i}`,
      podCidr: `10.244.${i}.0/24`,
      vxlanAddress: `10.244.${i}.0`,
      vxlanMac: `02:00:00:00:42:0${i}`,
      pinDir: `/sys/fs/bpf/${this.prefix}-node${i}`,
    });
    this.nodes = [node(1), node(2)];
    const pod = (i: 1 | 2, labels: Record<string, string>): LabPod => {
      const uid = `bench-pod-${i}`;
      return {
        uid,
        ns: `${this.prefix}-pod${i}`,
        netns: `/run/netns/${this.prefix}-pod${i}`,
        ip: `10.244.${i}.2`,
        mac: `0a:58:0a:f4:0${i}:02`,
        labels,
        node: this.nodes[i - 1],
        hostInterface: interfaceName(uid),
      };
    };
    this.pods = [pod(1, { app: 'client' }), pod(2, { app: 'server' })];
  }

  get namespaces(): string[] {
    return [...this.pods.map((p) => p.ns), ...this.nodes.map((n) => n.ns)];
  }

  /** Builds the namespaces, the underlay and the pods' veths; routes are the setups'. */
  build(): void {
    for (const ns of this.namespaces) {
      ip('netns', 'add', ns);
      // Quiet links: no IPv6 chatter on the paths under test.
      this.sysctl(ns, 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
      this.sysctl(ns, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    const [n1, n2] = this.nodes;
    // The underlay: one veth pair between the node namespaces.
    ip(
      ...['-n', n1.ns, 'link', 'add', UNDERLAY, 'address', n1.vtepMac],
      ...['mtu', String(UNDERLAY_MTU), 'type', 'veth', 'peer', 'name', UNDERLAY],
      ...['address', n2.vtepMac, 'mtu', String(UNDERLAY_MTU), 'netns', n2.ns],
    );
    for (const node of this.nodes) {
      this.sysctl(node.ns, 'net.ipv4.ip_forward=1');
      ip('-n', node.ns, 'addr', 'add', `${node.vtepAddress}/24`, 'dev', UNDERLAY);
      ip('-n', node.ns, 'link', 'set', UNDERLAY, 'up');
    }
    // The pods, wired as Strata's CNI does: the host veth carries the gateway MAC and no
    // address; the pod has a /32 and a default route via the gateway, onlink.
    for (const pod of this.pods) {
      ip(
        ...['-n', pod.node.ns, 'link', 'add', pod.hostInterface, 'address', GATEWAY_MAC],
        ...['mtu', String(POD_MTU), 'type', 'veth', 'peer', 'name', POD_INTERFACE],
        ...['address', pod.mac, 'mtu', String(POD_MTU), 'netns', pod.ns],
      );
      ip('-n', pod.node.ns, 'link', 'set', pod.hostInterface, 'up');
      ip('-n', pod.ns, 'link', 'set', POD_INTERFACE, 'up');
      ip('-n', pod.ns, 'addr', 'add', `${pod.ip}/32`, 'dev', POD_INTERFACE);
      ip('-n', pod.ns, 'route', 'add', GATEWAY_IP, 'dev', POD_INTERFACE, 'scope', 'link');
      ip(
        ...['-n', pod.ns, 'route', 'add', 'default', 'via', GATEWAY_IP],
        ...['dev', POD_INTERFACE, 'onlink'],
      );
    }
    const [first, second] = this.pods.map((pod) => this.offloads(pod.ns, POD_INTERFACE));
    if (!sameOffloads(first, second)) {
      throw new Error(`pod veths differ in offloads: ${JSON.stringify([first, second])}`);
    }
    this.defaultOffloads = first;
  }

  /** Removes everything the lab made; safe to call twice, and from a signal handler. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const ns of this.namespaces) {
      if (existsSync(`/run/netns/${ns}`)) {
        try {
          ip('netns', 'del', ns);
        } catch (error) {
          console.error(`bench/dataplane: deleting netns ${ns}: ${(error as Error).message}`);
        }
      }
    }
    for (const node of this.nodes) rmSync(node.pinDir, { recursive: true, force: true });
  }

  /** Forgets the neighbours the last setup resolved, so that each setup resolves its own. */
  flushNeighbours(): void {
    for (const pod of this.pods) {
      ip('-n', pod.ns, 'neigh', 'flush', 'dev', POD_INTERFACE);
      ip('-n', pod.node.ns, 'neigh', 'flush', 'dev', pod.hostInterface);
    }
    for (const node of this.nodes) ip('-n', node.ns, 'neigh', 'flush', 'dev', UNDERLAY);
  }

  /** Runs a command in `ns` (nsenter, so bpffs stays visible) and returns its stdout. */
  exec(ns: string, command: string, ...args: string[]): string {
    return run('nsenter', `--net=/run/netns/${ns}`, command, ...args);
  }

  sysctl(ns: string, ...settings: string[]): void {
    this.exec(ns, 'sysctl', '-q', '-w', ...settings);
  }

  /**
   * Starts a process in `ns` (nsenter execs it, so the child's PID is the command's), tracked
   * so that destroy() can kill it. With `taskset`, the command runs on that CPU only.
   */
  spawn(ns: string, command: readonly string[], options: { cpu?: number } = {}): ChildProcess {
    const argv = [`--net=/run/netns/${ns}`, ...command];
    const child =
      options.cpu === undefined
        ? spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('taskset', ['-c', String(options.cpu), 'nsenter', ...argv], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command in `ns` to completion (killed after timeoutMs). */
  async run(
    ns: string,
    command: readonly string[],
    options: { cpu?: number; timeoutMs: number },
  ): Promise<RunResult> {
    const child = this.spawn(ns, command, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (exitCode) => resolve(exitCode));
      });
      return { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  offloads(ns: string, dev: string): Offloads {
    const out = this.exec(ns, 'ethtool', '-k', dev);
    const feature = (name: string): boolean => {
      const match = new RegExp(`^${name}: (on|off)`, 'm').exec(out);
      if (match === null) throw new Error(`ethtool -k ${dev} in ${ns}: no ${name}`);
      return match[1] === 'on';
    };
    return {
      tx: feature(OFFLOADS.tx),
      tso: feature(OFFLOADS.tso),
      gso: feature(OFFLOADS.gso),
      gro: feature(OFFLOADS.gro),
    };
  }

  setOffloads(ns: string, dev: string, offloads: Partial<Offloads>): void {
    const args = Object.entries(offloads).flatMap(([key, on]) => [key, on ? 'on' : 'off']);
    if (args.length > 0) this.exec(ns, 'ethtool', '-K', dev, ...args);
  }

  /** Puts the pods' offloads back to the veth defaults, and checks they are. */
  restorePodOffloads(): void {
    const defaults = this.defaultOffloads;
    if (defaults === undefined) throw new Error('lab not built');
    for (const pod of this.pods) {
      if (sameOffloads(this.offloads(pod.ns, POD_INTERFACE), defaults)) continue;
      this.setOffloads(pod.ns, POD_INTERFACE, defaults);
      const now = this.offloads(pod.ns, POD_INTERFACE);
      if (!sameOffloads(now, defaults)) {
        throw new Error(
          `${pod.ns} eth0 offloads ${JSON.stringify(now)} differ from the defaults ` +
            JSON.stringify(defaults),
        );
      }
    }
  }
}

export function sameOffloads(a: Offloads, b: Offloads): boolean {
  return (Object.keys(OFFLOADS) as Offload[]).every((key) => a[key] === b[key]);
}

export function run(command: string, ...args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`${command} ${args.join(' ')}: ${stderr || (error as Error).message}`);
  }
}

export function ip(...args: string[]): string {
  return run('ip', ...args);
}
