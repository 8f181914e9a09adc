/**
 * The node the BPF packet tables run on: its configuration, its pods, the remote pods and VTEPs
 * it knows, as map contents (World) plus the addresses tests build frames from.
 */
import { VTEP_FLAG_NO_GBP, type NodeConfigInput } from '../maps';
import type { World } from './harness';

export const NODE_VTEP = '192.168.200.1';
export const NODE_VTEP_MAC = '02:00:c0:a8:c8:01';
export const UNDERLAY_IFINDEX = 1000;
export const GATEWAY_MAC = 'ee:ee:ee:ee:ee:ee';
export const GATEWAY_IP = '169.254.1.1';
export const POD_MTU = 1450;

/** Flow records off: packet tables compare every counter exactly. */
export const NODE_CONFIG: NodeConfigInput = {
  vtepAddress: NODE_VTEP,
  underlayIfindex: UNDERLAY_IFINDEX,
  vtepMac: NODE_VTEP_MAC,
  gatewayMac: GATEWAY_MAC,
  gatewayAddress: GATEWAY_IP,
  podMtu: POD_MTU,
  flowSampleEvery: 0,
};

export interface Pod {
  readonly ip: string;
  readonly mac: string;
  readonly ifindex: number;
  readonly vni: number;
  readonly identity: number;
}

export interface RemotePod {
  readonly ip: string;
  readonly mac: string;
  readonly vtep: Vtep;
  readonly vni: number;
  readonly identity: number;
}

export interface Vtep {
  readonly ip: string;
  readonly mac: string;
  readonly flags: number;
}

export const VTEP2: Vtep = { ip: '192.168.200.2', mac: '02:00:c0:a8:c8:02', flags: 0 };
/** A kernel VXLAN gateway: sends no GBP. */
export const VTEP3: Vtep = {
  ip: '192.168.200.3',
  mac: '02:00:c0:a8:c8:03',
  flags: VTEP_FLAG_NO_GBP,
};
export const UNKNOWN_VTEP = { ip: '192.168.200.9', mac: '02:00:c0:a8:c8:09' };

export const SEGMENT_A = 42;
export const SEGMENT_B = 43;

/**
 * The node's pods. `pod1Ifindex` is the veth pod1 sends from: any number for TC (the context
 * carries it), an existing device for XDP (BPF_PROG_RUN resolves it): 1, the loopback.
 */
export function localPods(pod1Ifindex: number) {
  return {
    pod1: {
      ip: '10.244.1.2',
      mac: '0a:58:0a:f4:01:02',
      ifindex: pod1Ifindex,
      vni: SEGMENT_A,
      identity: 1000,
    },
    pod2: {
      ip: '10.244.1.3',
      mac: '0a:58:0a:f4:01:03',
      ifindex: 102,
      vni: SEGMENT_A,
      identity: 1001,
    },
    otherSegment: {
      ip: '10.244.1.4',
      mac: '0a:58:0a:f4:01:04',
      ifindex: 103,
      vni: SEGMENT_B,
      identity: 1002,
    },
    noSegment: { ip: '10.244.1.5', mac: '0a:58:0a:f4:01:05', ifindex: 104, vni: 0, identity: 1003 },
  } satisfies Record<string, Pod>;
}

export const REMOTE_PODS = {
  remote1: {
    ip: '10.244.2.2',
    mac: '0a:58:0a:f4:02:02',
    vtep: VTEP2,
    vni: SEGMENT_A,
    identity: 2000,
  },
  otherSegment: {
    ip: '10.244.2.3',
    mac: '0a:58:0a:f4:02:03',
    vtep: VTEP2,
    vni: SEGMENT_B,
    identity: 2001,
  },
  behindGateway: {
    ip: '10.244.3.2',
    mac: '0a:58:0a:f4:03:02',
    vtep: VTEP3,
    vni: SEGMENT_A,
    identity: 3000,
  },
} satisfies Record<string, RemotePod>;

/** Not an endpoint anywhere: the node itself, the outside world. */
export const OUTSIDE_IP = '93.184.216.34';

export function world(pods: Record<string, Pod>): World {
  return {
    locals: Object.fromEntries(
      Object.values(pods).map((pod) => [
        pod.ip,
        { ifindex: pod.ifindex, vni: pod.vni, identity: pod.identity, mac: pod.mac },
      ]),
    ),
    remotes: Object.fromEntries(
      Object.values(REMOTE_PODS).map((pod: RemotePod) => [
        pod.ip,
        {
          vtepAddress: pod.vtep.ip,
          vni: pod.vni,
          identity: pod.identity,
          vtepMac: pod.vtep.mac,
          mac: pod.mac,
        },
      ]),
    ),
    vteps: Object.fromEntries([VTEP2, VTEP3].map((vtep) => [vtep.ip, { flags: vtep.flags }])),
  };
}
