/**
 * The dataplanes the benchmark compares, each applied to the same lab and removed again, so
 * rounds can interleave them:
 * - routing: no overlay; each node routes the other's pod /32 via the underlay;
 * - kvxlan: kernel VXLAN, flannel style (a vxlan device per node with static neighbour and FDB
 *   entries and a route for the other node's pod CIDR; tc-probe's variant B);
 * - strata-tc / strata-xdp: the agent's BpfDataplane in each node's namespace, programmed from
 *   the forwarding tables that node's fold of the control plane's events gives.
 * The kernel setups also give the host veth the pods' gateway address, so the kernel answers
 * their ARP for it (Strata answers it in BPF).
 */
import type { EndpointCreated, NodeRegistered, SegmentCreated } from '@strata/domain';
import { loadObject, type BpfObject } from '@strata/dataplane';
import { createForwardingState, diff, emptyTables } from '@strata/forwarding';
import type { DropReason } from '../../dataplane/bpf/maps';
import { BpfDataplane, type BpfMode } from '../../services/agent/src/bpf';
import { writeDelta } from '../../services/agent/src/dataplane';
import { GATEWAY_IP, POD_INTERFACE, UNDERLAY, VNI, ip, type Lab, type LabNode } from './lab';

export const SETUP_IDS = ['routing', 'kvxlan', 'strata-tc', 'strata-xdp'] as const;
export type SetupId = (typeof SETUP_IDS)[number];

export interface Setup {
  readonly id: SetupId;
  /** Column header. */
  readonly label: string;
  /** Programs both nodes (and pods, where the setup needs it). */
  apply(lab: Lab, objects: BenchObjects): Promise<Applied>;
}

/** The benchmark's own compiled BPF objects a setup may need. */
export interface BenchObjects {
  /** xdp_pass.bpf.o: an XDP program for the pods' eth0 in Strata XDP mode. */
  readonly xdpPass: string;
}

export interface Applied {
  /** Undoes apply(): the lab is as built again. */
  remove(): Promise<void>;
  /** Dataplane drop counters that moved since apply, for the notes (Strata only). */
  drops?(): Record<string, number>;
}

const VXLAN_DEVICE = 'vxlan42';

export const SETUPS: Readonly<Record<SetupId, Setup>> = {
  routing: { id: 'routing', label: 'routing, no overlay', apply: applyRouting },
  kvxlan: { id: 'kvxlan', label: 'kernel VXLAN', apply: applyKernelVxlan },
  'strata-tc': {
    id: 'strata-tc',
    label: 'Strata TC',
    apply: (lab, objects) => applyStrata(lab, objects, 'tc'),
  },
  'strata-xdp': {
    id: 'strata-xdp',
    label: 'Strata XDP',
    apply: (lab, objects) => applyStrata(lab, objects, 'xdp'),
  },
};

/** The pods' side in the kernel setups: a route to the local pod, the gateway address. */
function kernelPods(lab: Lab): () => void {
  for (const pod of lab.pods) {
    const ns = pod.node.ns;
    ip('-n', ns, 'addr', 'add', `${GATEWAY_IP}/32`, 'dev', pod.hostInterface, 'scope', 'link');
    ip('-n', ns, 'route', 'add', `${pod.ip}/32`, 'dev', pod.hostInterface);
  }
  return () => {
    for (const pod of lab.pods) {
      const ns = pod.node.ns;
      ip('-n', ns, 'route', 'del', `${pod.ip}/32`, 'dev', pod.hostInterface);
      ip('-n', ns, 'addr', 'del', `${GATEWAY_IP}/32`, 'dev', pod.hostInterface);
    }
  };
}

async function applyRouting(lab: Lab): Promise<Applied> {
  const removePods = kernelPods(lab);
  const routes = lab.pods.map((pod) => {
    const via = other(lab, pod.node);
    return { ns: via.ns, args: [`${pod.ip}/32`, 'via', pod.node.vtepAddress, 'dev', UNDERLAY] };
  });
  for (const route of routes) ip('-n', route.ns, 'route', 'add', ...route.args);
  return {
    async remove() {
      for (const route of routes) ip('-n', route.ns, 'route', 'del', ...route.args);
      removePods();
    },
  };
}

async function applyKernelVxlan(lab: Lab): Promise<Applied> {
  const removePods = kernelPods(lab);
  for (const node of lab.nodes) {
    const peer = other(lab, node);
    const ns = node.ns;
    ip(
      ...['-n', ns, 'link', 'add', VXLAN_DEVICE, 'address', node.vxlanMac, 'type', 'vxlan'],
      ...['id', String(VNI), 'dstport', '4789', 'local', node.vtepAddress, 'dev', UNDERLAY],
      'nolearning',
    );
    ip('-n', ns, 'link', 'set', VXLAN_DEVICE, 'mtu', '1450', 'up');
    ip('-n', ns, 'addr', 'add', `${node.vxlanAddress}/32`, 'dev', VXLAN_DEVICE);
    ip(
      ...['-n', ns, 'neigh', 'replace', peer.vxlanAddress, 'lladdr', peer.vxlanMac],
      ...['dev', VXLAN_DEVICE, 'nud', 'permanent'],
    );
    lab.exec(
      ns,
      ...['bridge', 'fdb', 'append', peer.vxlanMac, 'dev', VXLAN_DEVICE],
      ...['dst', peer.vtepAddress],
    );
    ip(
      ...['-n', ns, 'route', 'add', peer.podCidr, 'via', peer.vxlanAddress],
      ...['dev', VXLAN_DEVICE, 'onlink'],
    );
  }
  return {
    async remove() {
      // Its addresses, neighbours, FDB entries and routes go with the device.
      for (const node of lab.nodes) ip('-n', node.ns, 'link', 'del', VXLAN_DEVICE);
      removePods();
    },
  };
}

/**
 * Each node's BpfDataplane, as `strata agent --dataplane bpf` opens it, programmed with the
 * delta from empty to the tables that node's fold of the events gives.
 *
 * XDP mode also needs, per dataplane/bpf/README.md, pods with tx checksum offload off and GRO
 * on (a veth needs NAPI to take redirected frames). The pods also get xdp_pass on eth0: it was
 * needed while Strata answered ARP with XDP_TX (README), and stays so figures stay comparable.
 */
async function applyStrata(lab: Lab, objects: BenchObjects, mode: BpfMode): Promise<Applied> {
  const dataplanes: BpfDataplane[] = [];
  const warnings: string[] = [];
  let podProgram: BpfObject | undefined;
  const remove = () => removeStrata(lab, dataplanes, podProgram);
  try {
    if (mode === 'xdp') {
      podProgram = await loadObject(objects.xdpPass);
      for (const pod of lab.pods) {
        lab.setOffloads(pod.ns, POD_INTERFACE, { tx: false, gro: true });
        await podProgram.program('xdp_pass').attachXdp(POD_INTERFACE, { netns: pod.netns });
      }
    }
    for (const node of lab.nodes) {
      const dataplane = await BpfDataplane.open({
        vtepAddress: node.vtepAddress,
        vtepMac: node.vtepMac,
        underlayInterface: UNDERLAY,
        netns: node.netns,
        pinDir: node.pinDir,
        mode,
        pendingRetryMs: 0,
        onWarning: (error) => warnings.push(`${node.name}: ${error.message}`),
      });
      dataplanes.push(dataplane);
      const state = createForwardingState(node.name);
      events(lab).forEach((event, index) => state.apply({ ...event, position: index + 1 }));
      await writeDelta(dataplane, diff(state.tables, emptyTables()));
      if (dataplane.parkedEntries.size > 0 || dataplane.stats.rejected > 0) {
        throw new Error(`${node.name}: entries not written: ${warnings.join('; ')}`);
      }
    }
  } catch (error) {
    await remove();
    throw error;
  }
  const before = dataplanes.map((dataplane) => dataplane.counters().drops);
  return {
    remove,
    drops() {
      const moved: Record<string, number> = {};
      dataplanes.forEach((dataplane, i) => {
        const now = dataplane.counters().drops;
        for (const reason of Object.keys(now) as DropReason[]) {
          const delta = (now[reason] ?? 0) - (before[i][reason] ?? 0);
          if (delta > 0) moved[`${lab.nodes[i].name} ${reason}`] = delta;
        }
      });
      return moved;
    },
  };
}

async function removeStrata(
  lab: Lab,
  dataplanes: readonly BpfDataplane[],
  podProgram: BpfObject | undefined,
): Promise<void> {
  for (const dataplane of dataplanes) {
    await dataplane.detachAll();
    await dataplane.close();
    dataplane.unpinAll();
  }
  if (podProgram !== undefined) {
    for (const pod of lab.pods) {
      await podProgram.program('xdp_pass').detachXdp(POD_INTERFACE, { netns: pod.netns });
    }
    podProgram.close();
  }
  lab.restorePodOffloads();
}

type BenchEvent = (SegmentCreated | NodeRegistered | EndpointCreated) & {
  readonly stream: string;
  readonly revision: number;
};

/** The control plane's events for the lab: one segment, both nodes, both pods. */
function events(lab: Lab): BenchEvent[] {
  const segment: SegmentCreated['data'] = {
    segmentId: 'bench',
    name: 'bench',
    vni: VNI,
    subnets: ['10.244.0.0/16'],
    federated: false,
  };
  return [
    { stream: 'segment-bench', revision: 0, type: 'SegmentCreated', data: segment },
    ...lab.nodes.map((node): BenchEvent => ({
      stream: `node-${node.name}`,
      revision: 0,
      type: 'NodeRegistered',
      data: {
        name: node.name,
        vtepAddress: node.vtepAddress,
        vtepMac: node.vtepMac,
        registeredAt: '2026-01-01T00:00:00.000Z',
      },
    })),
    ...lab.pods.map((pod, i): BenchEvent => ({
      stream: `endpoint-${pod.uid}`,
      revision: 0,
      type: 'EndpointCreated',
      data: {
        uid: pod.uid,
        segmentId: 'bench',
        node: pod.node.name,
        ip: pod.ip,
        mac: pod.mac,
        labels: { ...pod.labels },
        kind: 'pod',
        // Each pod its own identity, as distinct label sets get from the policy service.
        identity: 256 + i,
        namedPorts: [],
      },
    })),
  ];
}

function other(lab: Lab, node: LabNode): LabNode {
  return lab.nodes[0] === node ? lab.nodes[1] : lab.nodes[0];
}
