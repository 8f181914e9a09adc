import { join, resolve } from 'node:path';
import type { Labels } from '@strata/domain';
import { CliError } from '../errors';
import { readJsonFile, writeJsonFile } from '../json-file';
import type { NamedPort } from './pod-spec';

/**
 * A lab's names and its state file, `<data-dir>/lab-<name>/lab.json`: what `lab up` made
 * (namespaces, interfaces, processes, ports, pods), so `status`, `exec` and `down` work from
 * another process, and `down` works after a crash. Every name a lab gives to a kernel object
 * starts with its prefix `stl-<name>-` and matches `ownedNamespace` exactly, so a lab never
 * touches another lab's namespaces (`stl-a-` is a prefix of `stl-a-b-`'s names, the pattern is
 * not).
 */

export const MAX_NODES = 16;
export const MAX_PODS_PER_NODE = 32;
export const UNDERLAY_MTU = 1500;
/** VXLAN over IPv4 costs 50 bytes: pod MTU = underlay MTU - 50. */
export const POD_MTU = UNDERLAY_MTU - 50;
export const UNDERLAY_INTERFACE = 'ul0';
export const UNDERLAY_BRIDGE = 'br0';
export const POD_INTERFACE = 'eth0';
/** Every host-side pod veth carries it; BPF answers the pods' ARP with it (dataplane/bpf). */
export const GATEWAY_MAC = 'ee:ee:ee:ee:ee:ee';
export const GATEWAY_IP = '169.254.1.1';
export const SEGMENT_ID = 'lab';
export const POOL_ID = 'lab';
export const BPFFS = '/sys/fs/bpf';
export const NETNS_DIR = '/run/netns';

export type LabMode = 'tc' | 'xdp';
export type LabDataplane = 'bpf' | 'memory';

// A DNS label of at most 16 characters: short names, and room in every derived name.
const LAB_NAME = /^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/;

export function assertLabName(name: string): string {
  if (!LAB_NAME.test(name)) {
    throw new CliError(
      'InvalidArgument',
      `lab name ${JSON.stringify(name)} must be 1-16 lowercase letters, digits and inner -`,
    );
  }
  return name;
}

/** The prefix of every namespace and pin directory of lab `name`. */
export function labPrefix(name: string): string {
  return `stl-${name}-`;
}

export function nodeName(index: number): string {
  return `n${index}`;
}

export function podName(nodeIndex: number, podIndex: number): string {
  return `n${nodeIndex}p${podIndex}`;
}

export const underlayNamespace = (prefix: string) => `${prefix}ul`;
export const nodeNamespace = (prefix: string, node: string) => `${prefix}${node}`;
export const podNamespace = (prefix: string, pod: string) => `${prefix}${pod}`;
export const pinDir = (prefix: string, node: string) => join(BPFFS, `${prefix}${node}`);

/** A pattern matching exactly the names (namespaces, pin dirs) lab `name` may have made. */
export function ownedName(name: string): RegExp {
  return new RegExp(`^${labPrefix(name)}(ul|n[0-9]{1,2}(p[0-9]{1,2})?)$`);
}

export function labDir(dataDir: string, name: string): string {
  return join(resolve(dataDir), `lab-${name}`);
}

export function stateFilePath(dir: string): string {
  return join(dir, 'lab.json');
}

/** A process the lab started, identified by PID and kernel start time (PIDs are reused). */
export interface ProcessRecord {
  readonly pid: number;
  /** /proc/<pid>/stat field 22 (clock ticks since boot): the PID names this process only. */
  readonly startTime: number;
  readonly log: string;
}

export interface ServerRecord extends ProcessRecord {
  readonly dataDir: string;
  readonly healthPort: number;
  /** Null from its start until it is ready (a `down` meanwhile still finds it by PID). */
  readonly natsUrl: string | null;
  /** The nats-server `strata server` started: stopped by it, or by `down` if it outlived it. */
  readonly nats: ProcessRecord | null;
}

export interface AgentRecord extends ProcessRecord {
  readonly healthPort: number;
  readonly stateDir: string;
}

export interface LabNode {
  readonly name: string;
  readonly namespace: string;
  /** Address of ul0, the VTEP address. */
  readonly underlayIp: string;
  readonly vtepMac: string;
  /** ul0's peer, a port of the underlay bridge. */
  readonly bridgePort: string;
  readonly pinDir: string;
  agent: AgentRecord | null;
}

export interface LabPod {
  readonly name: string;
  readonly node: string;
  readonly namespace: string;
  /** The endpoint uid, IPAM owner and source of the host-side interface name. */
  readonly uid: string;
  readonly ip: string;
  readonly mac: string;
  /** In the node's namespace: `interfaceName(uid)`. */
  readonly hostInterface: string;
  /** Kubernetes-style namespace (`lab up --pods-file`, `lab pod add --namespace`); none: none. */
  readonly k8sNamespace?: string;
  /** The pod's own labels (the endpoint's are these plus the lab's, see pod-spec.ts). */
  labels?: Labels;
  readonly namedPorts?: readonly NamedPort[];
}

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly prefix: string;
  readonly dir: string;
  readonly mode: LabMode;
  readonly dataplane: LabDataplane;
  readonly createdAt: string;
  /** `creating` until every pod is applied on every node; a crash leaves it so. */
  phase: 'creating' | 'ready';
  readonly underlay: { readonly namespace: string; readonly subnet: string };
  readonly podSubnet: string;
  /** Every namespace the lab makes, written before the first is created (`pod add` appends). */
  readonly namespaces: string[];
  readonly pinDirs: readonly string[];
  readonly nodes: LabNode[];
  readonly pods: LabPod[];
  server: ServerRecord | null;
  /** Labels of the Kubernetes-style namespaces the pods live in (absent: none yet). */
  k8sNamespaces?: Record<string, Labels>;
}

/** Writes the state atomically (temp file, then rename): a reader never sees half of it. */
export async function writeState(state: LabState): Promise<void> {
  await writeJsonFile(stateFilePath(state.dir), state, 0o600);
}

/** The lab's state, or undefined when it has no state file. */
export async function readState(dir: string): Promise<LabState | undefined> {
  const path = stateFilePath(dir);
  const state = await readJsonFile<LabState>(path);
  if (state === undefined) return undefined;
  if (
    state.version !== 1 ||
    typeof state.name !== 'string' ||
    state.prefix !== labPrefix(state.name) ||
    !Array.isArray(state.namespaces) ||
    !Array.isArray(state.nodes) ||
    !Array.isArray(state.pods)
  ) {
    throw new CliError('Malformed', `${path} is not a version 1 lab state file`);
  }
  return state as LabState;
}

/** The state of lab `name`, or LabNotFound. */
export async function requireState(dataDir: string, name: string): Promise<LabState> {
  const dir = labDir(dataDir, name);
  const state = await readState(dir);
  if (state === undefined) {
    throw new CliError(
      'LabNotFound',
      `no lab ${name} (${stateFilePath(dir)} is missing): start one with \`strata lab up --name ${name}\``,
    );
  }
  return state;
}
