import { CONFIG, IPAM } from '@strata/bus';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { CliError, describeError } from '../errors';
import { hostAddress, pickSubnet, POD_CANDIDATES, UNDERLAY_CANDIDATES, vtepMac } from './addresses';
import { LabControl } from './control';
import { listNamespaces, listPinDirs, requireRoot, requireTools, rootRoutes } from './host';
import {
  assertLabName,
  labDir,
  labPrefix,
  MAX_NODES,
  MAX_PODS_PER_NODE,
  nodeName,
  nodeNamespace,
  ownedName,
  pinDir,
  podName,
  podNamespace,
  POOL_ID,
  readState,
  SEGMENT_ID,
  stateFilePath,
  underlayNamespace,
  writeState,
  type LabDataplane,
  type LabMode,
  type LabNode,
  type LabState,
} from './lab-state';
import { tearDown } from './lab-down';
import { addPod, freeSlot } from './lab-pod';
import { parsePodsFile, type PodsFile, type PodSpec } from './pod-spec';
import {
  credentialsDir,
  startAgent,
  startServer,
  waitAgentReady,
  type StartedAgent,
} from './processes';
import { createNode, createUnderlay } from './topology';

export interface LabUpOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly nodes: number;
  readonly pods: number;
  readonly mode: LabMode;
  readonly dataplane: LabDataplane;
  /** JSON: pods with chosen names, nodes, namespaces, labels (pod-spec.ts), after `pods` each. */
  readonly podsFile?: string;
}

const CONVERGE_TIMEOUT_MS = 60_000;

/**
 * `strata lab up`: the underlay and node namespaces, the server, one agent per node, then the
 * pods the way the CNI plugin makes them (IPAM address, veth wiring, endpoint), and a wait until
 * every agent has applied the whole log. A failure tears down what was made (the logs stay in
 * the lab dir) and reports the cause.
 */
export async function labUp(options: LabUpOptions, log: (line: string) => void): Promise<LabState> {
  const name = assertLabName(options.name);
  checkCount('--nodes', options.nodes, 1, MAX_NODES);
  checkCount('--pods', options.pods, 0, MAX_PODS_PER_NODE);
  requireRoot();
  await requireTools(['ip', 'nsenter', 'sysctl', ...(options.mode === 'xdp' ? ['ethtool'] : [])]);
  const podsFile = await readPodsFile(options);
  const dir = labDir(options.dataDir, name);
  await refuseIfExists(name, dir);

  // A directory without a state file is what a failed `up` left: its logs, and a server data
  // dir whose log must not leak into this lab.
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { state, custom } = plan(name, dir, options, podsFile, await rootRoutes());
  await writeState(state);
  try {
    await build(state, options, custom, log);
    return state;
  } catch (error) {
    log(`failed; tearing down (the logs stay in ${dir})`);
    await tearDown(state, log, { keepLogs: true }).catch((cleanup: unknown) =>
      log(`teardown: ${describeError(cleanup)}`),
    );
    throw error;
  }
}

function checkCount(flag: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CliError('InvalidArgument', `${flag} must be an integer from ${min} to ${max}`);
  }
}

async function readPodsFile(options: LabUpOptions): Promise<PodsFile | undefined> {
  if (options.podsFile === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(options.podsFile, 'utf8');
  } catch (error) {
    throw new CliError(
      'InvalidArgument',
      `cannot read ${options.podsFile}: ${(error as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError('InvalidArgument', `${options.podsFile} is not JSON`);
  }
  const nodes = Array.from({ length: options.nodes }, (_, i) => nodeName(i + 1));
  const file = parsePodsFile(value, nodes);
  const perNode = new Map<string, number>();
  for (const pod of file.pods) perNode.set(pod.node, (perNode.get(pod.node) ?? 0) + 1);
  for (const [node, count] of perNode) {
    if (count + options.pods > MAX_PODS_PER_NODE) {
      throw new CliError(
        'InvalidArgument',
        `node ${node} would have more than ${MAX_PODS_PER_NODE} pods`,
      );
    }
  }
  return file;
}

/** A pods-file pod and the network namespace slot `plan` gave it. */
interface PlannedPod {
  readonly spec: PodSpec;
  readonly slot: string;
}

async function refuseIfExists(name: string, dir: string): Promise<void> {
  // A state file that cannot be read still says a lab may run there.
  if (
    await readState(dir).then(
      (state) => state !== undefined,
      () => true,
    )
  ) {
    throw new CliError(
      'LabExists',
      `lab ${name} exists (${stateFilePath(dir)}): \`strata lab down --name ${name}\` first`,
    );
  }
  const owned = ownedName(name);
  const leftovers = [
    ...(await listNamespaces()).filter((ns) => owned.test(ns)),
    ...(await listPinDirs(owned)),
  ];
  if (leftovers.length > 0) {
    throw new CliError(
      'LabExists',
      `lab ${name} left ${leftovers.slice(0, 3).join(', ')}${leftovers.length > 3 ? ', ...' : ''} ` +
        `(made from another data dir, or its state file is gone): \`strata lab down --name ${name}\` removes them`,
    );
  }
}

/** Every name and address of the lab, decided before anything is made. */
function plan(
  name: string,
  dir: string,
  options: LabUpOptions,
  podsFile: PodsFile | undefined,
  routes: readonly string[],
): { state: LabState; custom: PlannedPod[] } {
  const prefix = labPrefix(name);
  const underlaySubnet = pickSubnet(UNDERLAY_CANDIDATES, routes, 'underlay');
  const nodes: LabNode[] = Array.from({ length: options.nodes }, (_, i) => {
    const node = nodeName(i + 1);
    const underlayIp = hostAddress(underlaySubnet, i + 1);
    return {
      name: node,
      namespace: nodeNamespace(prefix, node),
      underlayIp,
      vtepMac: vtepMac(underlayIp),
      bridgePort: node,
      pinDir: pinDir(prefix, node),
      agent: null,
    };
  });
  const podNamespaces = nodes.flatMap((_, i) =>
    Array.from({ length: options.pods }, (__, j) => podNamespace(prefix, podName(i + 1, j + 1))),
  );
  const state: LabState = {
    version: 1,
    name,
    prefix,
    dir,
    mode: options.mode,
    dataplane: options.dataplane,
    createdAt: new Date().toISOString(),
    phase: 'creating',
    underlay: { namespace: underlayNamespace(prefix), subnet: underlaySubnet },
    podSubnet: pickSubnet(POD_CANDIDATES, routes, 'pod'),
    namespaces: [
      underlayNamespace(prefix),
      ...nodes.map((node) => node.namespace),
      ...podNamespaces,
    ],
    pinDirs: options.dataplane === 'bpf' ? nodes.map((node) => node.pinDir) : [],
    nodes,
    pods: [],
    server: null,
    ...(podsFile === undefined ? {} : { k8sNamespaces: { ...podsFile.namespaces } }),
  };
  const custom: PlannedPod[] = [];
  const taken = new Set(podNamespaces);
  for (const spec of podsFile?.pods ?? []) {
    const node = nodes.find((candidate) => candidate.name === spec.node) as LabNode;
    const slot = freeSlot(state, node, taken);
    taken.add(podNamespace(prefix, slot));
    state.namespaces.push(podNamespace(prefix, slot));
    custom.push({ spec, slot });
  }
  return { state, custom };
}

async function build(
  state: LabState,
  options: LabUpOptions,
  custom: readonly PlannedPod[],
  log: (line: string) => void,
): Promise<void> {
  const prefixLength = Number(state.underlay.subnet.split('/')[1]);
  await createUnderlay(state.underlay.namespace);
  for (const node of state.nodes) {
    await createNode(node, { namespace: state.underlay.namespace, prefixLength }, state.mode);
  }
  log(`underlay ${state.underlay.subnet} and ${state.nodes.length} node namespaces up`);

  const server = await startServer(
    state.dir,
    state.nodes.map((node) => node.name),
    async (record) => {
      state.server = record;
      await writeState(state);
    },
  );
  state.server = server.record;
  await writeState(state);
  log(`server ready: pid ${server.record.pid}, NATS ${server.record.natsUrl}`);

  const agents: StartedAgent[] = [];
  for (const node of state.nodes) {
    const agent = await startAgent(state.dir, node, server.record, state);
    node.agent = agent.record;
    agents.push(agent);
    await writeState(state);
  }
  await Promise.all(
    state.nodes.map((node, i) => waitAgentReady(node.name, agents[i], server.record)),
  );
  log(`${agents.length} agents ready (${state.dataplane} dataplane, ${state.mode} mode)`);

  const control = await LabControl.open(server.record.natsUrl, credentialsDir(server.record));
  try {
    await control.execute(CONFIG.createSegment, {
      segmentId: SEGMENT_ID,
      name: SEGMENT_ID,
      subnets: [state.podSubnet],
    });
    await control.execute(IPAM.createPool, {
      poolId: POOL_ID,
      kind: 'pod',
      cidr: state.podSubnet,
      segmentId: SEGMENT_ID,
    });
    for (const [i, node] of state.nodes.entries()) {
      for (let j = 1; j <= options.pods; j++) {
        state.pods.push(await addPod(control, state, node, podName(i + 1, j)));
      }
      await writeState(state);
    }
    for (const { spec, slot } of custom) {
      const node = state.nodes.find((candidate) => candidate.name === spec.node) as LabNode;
      state.pods.push(await addPod(control, state, node, slot, spec));
      await writeState(state);
    }
    log(`${state.pods.length} pods wired; waiting for every agent to apply them`);
    const head = await control.waitApplied(
      state.nodes.map((node) => node.name),
      CONVERGE_TIMEOUT_MS,
    );
    log(`every agent applied the log up to position ${head}`);
  } finally {
    await control.close();
  }
  state.phase = 'ready';
  await writeState(state);
}
