import { inNamespace, ip } from './host';
import {
  GATEWAY_IP,
  GATEWAY_MAC,
  POD_INTERFACE,
  POD_MTU,
  UNDERLAY_BRIDGE,
  UNDERLAY_INTERFACE,
  UNDERLAY_MTU,
  type LabMode,
  type LabNode,
  type LabPod,
} from './lab-state';

/**
 * The lab's kernel objects: the reference tc-probe topology (two node namespaces, pods behind
 * them, an underlay between), in the dataplane's final shape:
 *
 *   <prefix>ul              bridge br0: the underlay "switch"; one port per node
 *   <prefix>n<i>            ul0 (veth to br0), 192.168.x.i/24, MTU 1500: the node's VTEP
 *                           st<hash> per pod: host side of the pod's veth, ee:ee:ee:ee:ee:ee
 *   <prefix>n<i>p<j>        eth0: the pod's /32, MTU 1450, default via 169.254.1.1 onlink
 *
 * No namespace has a route to another node's pods: the BPF programs the agent loads carry
 * that traffic, or nothing does.
 */

/** Creates a namespace with loopback up and IPv6 off (no link-local noise in its tables). */
export async function createNamespace(namespace: string): Promise<void> {
  await ip(undefined, 'netns', 'add', namespace);
  // Before any interface arrives, so none ever gets an IPv6 address.
  await inNamespace(
    namespace,
    'sysctl',
    '-q',
    '-w',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  );
  await ip(namespace, 'link', 'set', 'lo', 'up');
}

export async function createUnderlay(namespace: string): Promise<void> {
  await createNamespace(namespace);
  await ip(
    namespace,
    'link',
    'add',
    UNDERLAY_BRIDGE,
    'mtu',
    String(UNDERLAY_MTU),
    'type',
    'bridge',
  );
  await ip(namespace, 'link', 'set', UNDERLAY_BRIDGE, 'up');
}

/** A node's namespace and its underlay veth, plugged into the bridge. */
export async function createNode(
  node: LabNode,
  underlay: { namespace: string; prefixLength: number },
  mode: LabMode,
): Promise<void> {
  await createNamespace(node.namespace);
  await ip(
    node.namespace,
    'link',
    'add',
    UNDERLAY_INTERFACE,
    'address',
    node.vtepMac,
    'mtu',
    String(UNDERLAY_MTU),
    'type',
    'veth',
    'peer',
    'name',
    node.bridgePort,
    'mtu',
    String(UNDERLAY_MTU),
    'netns',
    underlay.namespace,
  );
  await ip(underlay.namespace, 'link', 'set', node.bridgePort, 'master', UNDERLAY_BRIDGE, 'up');
  if (mode === 'xdp') {
    // XDP_REDIRECT out of ul0 lands on this peer: a veth takes redirected frames only with
    // GRO (NAPI) or an XDP program of its own.
    await inNamespace(underlay.namespace, 'ethtool', '-K', node.bridgePort, 'gro', 'on');
  }
  await ip(
    node.namespace,
    'addr',
    'add',
    `${node.underlayIp}/${underlay.prefixLength}`,
    'dev',
    UNDERLAY_INTERFACE,
  );
  await ip(node.namespace, 'link', 'set', UNDERLAY_INTERFACE, 'up');
}

/**
 * What a CNI plugin does for a pod once IPAM gave it an address: the pod's namespace, the veth
 * pair (pod side eth0 with the pod's MAC, host side named after the endpoint uid with the
 * gateway MAC), the /32 and the routes via the gateway, which BPF answers ARP for.
 */
export async function createPod(pod: LabPod, nodeNamespace: string, mode: LabMode): Promise<void> {
  await createNamespace(pod.namespace);
  await ip(
    nodeNamespace,
    'link',
    'add',
    pod.hostInterface,
    'address',
    GATEWAY_MAC,
    'mtu',
    String(POD_MTU),
    'type',
    'veth',
    'peer',
    'name',
    POD_INTERFACE,
    'address',
    pod.mac,
    'mtu',
    String(POD_MTU),
    'netns',
    pod.namespace,
  );
  await ip(pod.namespace, 'addr', 'add', `${pod.ip}/32`, 'dev', POD_INTERFACE);
  await ip(pod.namespace, 'link', 'set', POD_INTERFACE, 'up');
  await ip(pod.namespace, 'route', 'add', GATEWAY_IP, 'dev', POD_INTERFACE, 'scope', 'link');
  await ip(
    pod.namespace,
    'route',
    'add',
    'default',
    'via',
    GATEWAY_IP,
    'dev',
    POD_INTERFACE,
    'onlink',
  );
  if (mode === 'xdp') {
    // XDP mode (dataplane/bpf/README.md): frames redirected to the pod arrive through eth0's
    // GRO, and a frame leaving with a partial checksum would reach XDP without one.
    await inNamespace(pod.namespace, 'ethtool', '-K', POD_INTERFACE, 'tx', 'off', 'gro', 'on');
  }
  await ip(nodeNamespace, 'link', 'set', pod.hostInterface, 'up');
}
