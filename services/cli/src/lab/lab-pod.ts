import { CommandFailed, CONFIG, IPAM, type CreateEndpointRequest } from '@strata/bus';
import type { Labels } from '@strata/domain';
import { interfaceName } from '@strata/forwarding';
import { CliError } from '../errors';
import { podMac } from './addresses';
import { LabControl } from './control';
import { deleteNamespace, listNamespaces, requireRoot, requireTools } from './host';
import {
  assertLabName,
  MAX_PODS_PER_NODE,
  podName,
  podNamespace,
  POOL_ID,
  requireState,
  SEGMENT_ID,
  writeState,
  type LabNode,
  type LabPod,
  type LabState,
} from './lab-state';
import {
  assertNamespaceName,
  assertPodName,
  defaultNamespaceLabels,
  endpointLabels,
  relabel,
  type PodSpec,
} from './pod-spec';
import { credentialsDir } from './processes';
import { createPod } from './topology';

const CONVERGE_TIMEOUT_MS = 60_000;

type LabOptions = { readonly name: string; readonly dataDir: string };

/**
 * One pod, through the path the CNI plugin takes: IPAM allocates its address (the endpoint uid
 * owns it), the namespace and veth are wired, and config records the endpoint on its node with
 * the labels pod-spec.ts derives. The veth exists before the endpoint does, so the agent finds
 * its interface on the first write. `slot` names the pod's network namespace (`n<i>p<j>`);
 * a pod `lab up --pods` makes is named after its slot.
 */
export async function addPod(
  control: LabControl,
  state: LabState,
  node: LabNode,
  slot: string,
  spec: Omit<PodSpec, 'node'> = { name: slot, labels: {}, namedPorts: [] },
): Promise<LabPod> {
  const uid = `${state.name}-${spec.name}`;
  const { address } = await control.execute(IPAM.allocateAddress, { poolId: POOL_ID, owner: uid });
  const custom = spec.name !== slot;
  const pod: LabPod = {
    name: spec.name,
    node: node.name,
    namespace: podNamespace(state.prefix, slot),
    uid,
    ip: address,
    mac: podMac(address),
    hostInterface: interfaceName(uid),
    ...(spec.namespace === undefined ? {} : { k8sNamespace: spec.namespace }),
    ...(custom ? { labels: spec.labels } : {}),
    ...(spec.namedPorts.length === 0 ? {} : { namedPorts: spec.namedPorts }),
  };
  await createPod(pod, node.namespace, state.mode);
  const request: CreateEndpointRequest = {
    uid,
    kind: 'pod',
    segmentId: SEGMENT_ID,
    node: node.name,
    ip: pod.ip,
    mac: pod.mac,
    labels: podEndpointLabels(state, pod),
    ...(spec.namedPorts.length === 0 ? {} : { namedPorts: spec.namedPorts }),
  };
  await control.execute(CONFIG.createEndpoint, request);
  return pod;
}

/** The endpoint labels of a lab pod as its namespace is labelled now. */
export function podEndpointLabels(state: LabState, pod: LabPod): Labels {
  return endpointLabels(
    state.name,
    { name: pod.name, namespace: pod.k8sNamespace, labels: pod.labels ?? {} },
    pod.k8sNamespace === undefined ? {} : namespaceLabels(state, pod.k8sNamespace),
  );
}

/** A namespace's labels; a namespace seen for the first time gets the defaults. */
export function namespaceLabels(state: LabState, namespace: string): Labels {
  state.k8sNamespaces ??= {};
  state.k8sNamespaces[namespace] ??= defaultNamespaceLabels(namespace);
  return state.k8sNamespaces[namespace];
}

/** The lowest free network namespace slot `n<i>p<j>` of a node. */
export function freeSlot(state: LabState, node: LabNode, taken: ReadonlySet<string>): string {
  const index = Number(node.name.slice(1));
  for (let j = 1; j <= MAX_PODS_PER_NODE; j++) {
    const slot = podName(index, j);
    if (!taken.has(podNamespace(state.prefix, slot))) return slot;
  }
  throw new CliError(
    'InvalidArgument',
    `node ${node.name} already has ${MAX_PODS_PER_NODE} pods, the most a lab node takes`,
  );
}

/**
 * `strata lab pod add <name> --node <n> [--namespace <ns>] [--labels k=v,...]
 * [--named-ports name=PROTO/port,...]`: a pod made as `lab up` makes them; returns the log head
 * every agent applied once it exists.
 */
export async function labPodAdd(
  options: LabOptions & { readonly pod: PodSpec },
  log: (line: string) => void,
): Promise<{ pod: LabPod; head: number }> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const spec = options.pod;
  assertPodName(spec.name);
  if (spec.namespace !== undefined) assertNamespaceName(spec.namespace);
  if (state.pods.some((pod) => pod.name === spec.name)) {
    throw new CliError('PodExists', `lab ${state.name} already has a pod ${spec.name}`);
  }
  const node = requireNode(state, spec.node);
  requireRoot();
  await requireTools(['ip', 'nsenter', 'sysctl', ...(state.mode === 'xdp' ? ['ethtool'] : [])]);
  const taken = new Set([...state.namespaces, ...(await listNamespaces())]);
  const slot = freeSlot(state, node, taken);
  // Recorded before it is made, so `lab down` removes it whatever happens next.
  state.namespaces.push(podNamespace(state.prefix, slot));
  await writeState(state);
  return withControl(state, async (control) => {
    const pod = await addPod(control, state, node, slot, spec);
    state.pods.push(pod);
    await writeState(state);
    const head = await control.waitApplied(nodesOf(state), CONVERGE_TIMEOUT_MS);
    log(`pod ${pod.name} (${pod.ip}) on ${node.name}; every agent applied the log up to ${head}`);
    return { pod, head };
  });
}

/**
 * `strata lab pod label <pod> k=v,k2-`: sets and removes the pod's own labels (as `kubectl
 * label --overwrite`) through config's relabel (the endpoint may change identity); returns the
 * log head every agent applied afterwards.
 */
export async function labPodLabel(
  options: LabOptions & {
    readonly pod: string;
    readonly change: { readonly set: Labels; readonly remove: readonly string[] };
  },
  log: (line: string) => void,
): Promise<number> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const pod = requirePod(state, options.pod);
  pod.labels = relabel(pod.labels ?? {}, options.change);
  return withControl(state, async (control) => {
    await control.execute(CONFIG.relabelEndpoint, {
      uid: pod.uid,
      labels: podEndpointLabels(state, pod),
    });
    await writeState(state);
    const head = await control.waitApplied(nodesOf(state), CONVERGE_TIMEOUT_MS);
    log(`pod ${pod.name} relabelled; every agent applied the log up to ${head}`);
    return head;
  });
}

/**
 * `strata lab namespace label <ns> k=v,k2-`: changes a namespace's labels and relabels every
 * pod in it (their `ns.strata.io/*` labels follow), then waits until every agent applied them.
 */
export async function labNamespaceLabel(
  options: LabOptions & {
    readonly namespace: string;
    readonly change: { readonly set: Labels; readonly remove: readonly string[] };
  },
  log: (line: string) => void,
): Promise<number> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const namespace = assertNamespaceName(options.namespace);
  const pods = state.pods.filter((pod) => pod.k8sNamespace === namespace);
  if (pods.length === 0) {
    throw new CliError(
      'NamespaceNotFound',
      `lab ${state.name} has no pod in namespace ${namespace}`,
    );
  }
  const labels = relabel(namespaceLabels(state, namespace), options.change);
  state.k8sNamespaces = { ...state.k8sNamespaces, [namespace]: labels };
  return withControl(state, async (control) => {
    for (const pod of pods) {
      await control.execute(CONFIG.relabelEndpoint, {
        uid: pod.uid,
        labels: podEndpointLabels(state, pod),
      });
    }
    await writeState(state);
    const head = await control.waitApplied(nodesOf(state), CONVERGE_TIMEOUT_MS);
    log(
      `namespace ${namespace} relabelled (${pods.length} pods); every agent applied the log up to ${head}`,
    );
    return head;
  });
}

/**
 * `strata lab pod delete <pod>`: the reverse of how `lab up` adds a pod. Config deletes the
 * endpoint; once every agent has applied the log up to its head (no node forwards to the pod any
 * more), the pod's namespace goes (its veth with it) and IPAM releases the address last, so it
 * cannot be handed out while a node still routes it. A step found already done (endpoint
 * deleted, namespace gone, address released) is skipped, so a failed delete can be repeated.
 * Returns the log head every agent applied.
 */
export async function labPodDelete(
  options: LabOptions & { pod: string },
  log: (line: string) => void,
): Promise<number> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const pod = requirePod(state, options.pod);
  requireRoot();
  await requireTools(['ip']);
  const head = await withControl(state, async (control) => {
    await control.execute(CONFIG.deleteEndpoint, { uid: pod.uid }).catch((error: unknown) => {
      if (!(error instanceof CommandFailed && error.code === 'NotFound')) throw error;
    });
    const applied = await control.waitApplied(nodesOf(state), CONVERGE_TIMEOUT_MS);
    log(`endpoint ${pod.uid} deleted; every agent applied the log up to position ${applied}`);
    await deleteNamespace(pod.namespace);
    const { released } = await control.execute(IPAM.releaseAddress, {
      poolId: POOL_ID,
      owner: pod.uid,
      address: pod.ip,
    });
    log(`namespace ${pod.namespace} removed; address ${released ?? pod.ip} released`);
    return applied;
  });
  state.pods.splice(state.pods.indexOf(pod), 1);
  await writeState(state);
  return head;
}

/**
 * `strata lab wait`: resolves with the log head once every agent has applied the log up to it
 * (as it is when called) — the signal to wait on after any change made with another command.
 */
export async function labWait(options: LabOptions & { timeoutMs: number }): Promise<number> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  return withControl(state, (control) => control.waitApplied(nodesOf(state), options.timeoutMs));
}

function requirePod(state: LabState, name: string): LabPod {
  const pod = state.pods.find((candidate) => candidate.name === name);
  if (pod === undefined) {
    throw new CliError(
      'PodNotFound',
      `lab ${state.name} has no pod ${name}; it has ${state.pods.map((p) => p.name).join(', ') || 'none'}`,
    );
  }
  return pod;
}

function requireNode(state: LabState, name: string): LabNode {
  const node = state.nodes.find((candidate) => candidate.name === name);
  if (node === undefined) {
    throw new CliError(
      'NodeNotFound',
      `lab ${state.name} has no node ${name}; it has ${state.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  return node;
}

function nodesOf(state: LabState): string[] {
  return state.nodes.map((node) => node.name);
}

async function withControl<T>(
  state: LabState,
  work: (control: LabControl) => Promise<T>,
): Promise<T> {
  const server = state.server;
  if (server?.natsUrl == null) {
    throw new CliError('LabNotReady', `lab ${state.name} has no running server`);
  }
  const control = await LabControl.open(server.natsUrl, credentialsDir(server));
  try {
    return await work(control);
  } finally {
    await control.close();
  }
}
