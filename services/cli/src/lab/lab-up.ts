import { CONFIG, IPAM } from '@strata/bus';
import { interfaceName } from '@strata/forwarding';
import { mkdir, rm } from 'node:fs/promises';
import { CliError, describeError } from '../errors';
import {
  hostAddress,
  pickSubnet,
  podMac,
  POD_CANDIDATES,
  UNDERLAY_CANDIDATES,
  vtepMac,
} from './addresses';
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
  type LabPod,
  type LabState,
} from './lab-state';
import { tearDown } from './lab-down';
import {
  credentialsDir,
  startAgent,
  startServer,
  waitAgentReady,
  type StartedAgent,
} from './processes';
import { createNode, createPod, createUnderlay } from './topology';

export interface LabUpOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly nodes: number;
  readonly pods: number;
  readonly mode: LabMode;
  readonly dataplane: LabDataplane;
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
  const dir = labDir(options.dataDir, name);
  await refuseIfExists(name, dir);

  // A directory without a state file is what a failed `up` left: its logs, and a server data
  // dir whose log must not leak into this lab.
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const state = plan(name, dir, options, await rootRoutes());
  await writeState(state);
  try {
    await build(state, options, log);
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
  routes: readonly string[],
): LabState {
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
  return {
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
  };
}

async function build(
  state: LabState,
  options: LabUpOptions,
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

/**
 * One pod, through the path the CNI plugin takes: IPAM allocates its address (the endpoint uid
 * owns it), the namespace and veth are wired, and config records the endpoint on its node. The
 * veth exists before the endpoint does, so the agent finds its interface on the first write.
 */
async function addPod(
  control: LabControl,
  state: LabState,
  node: LabNode,
  name: string,
): Promise<LabPod> {
  const uid = `${state.name}-${name}`;
  const { address } = await control.execute(IPAM.allocateAddress, { poolId: POOL_ID, owner: uid });
  const pod: LabPod = {
    name,
    node: node.name,
    namespace: podNamespace(state.prefix, name),
    uid,
    ip: address,
    mac: podMac(address),
    hostInterface: interfaceName(uid),
  };
  await createPod(pod, node.namespace, state.mode);
  await control.execute(CONFIG.createEndpoint, {
    uid,
    kind: 'pod',
    segmentId: SEGMENT_ID,
    node: node.name,
    ip: pod.ip,
    mac: pod.mac,
    labels: { 'strata.io/lab': state.name, 'strata.io/pod': name },
  });
  return pod;
}
