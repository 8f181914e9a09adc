import type { Labels } from '@strata/domain';
import { securityLabelsOf } from '../policy/facts';
import { EventLog } from './event-log';

/**
 * Test support for the policy specs that build random worlds: the cluster they start from and
 * identities handed out the way the allocator hands them out.
 */

/** A log holding segment `s1` (VNI 100, 10.0.0.0/16) and `nodes`, VTEPs 192.168.1.<i + 1>. */
export function clusterLog(nodes: readonly string[]): EventLog {
  const log = new EventLog();
  log.append('segment-s1', {
    type: 'SegmentCreated',
    data: { segmentId: 's1', name: 's1', vni: 100, subnets: ['10.0.0.0/16'], federated: false },
  });
  nodes.forEach((name, i) =>
    log.append(`node-${name}`, {
      type: 'NodeRegistered',
      data: {
        name,
        vtepAddress: `192.168.1.${i + 1}`,
        vtepMac: `02:00:00:00:01:0${i + 1}`,
        registeredAt: '2024-05-01T12:00:00.000Z',
      },
    }),
  );
  return log;
}

/** One identity per security label set in segment `s1`, from 256 in order of first use. */
export function identityAllocator(): (labels: Labels, kind: 'pod' | 'external') => number {
  const identities = new Map<string, number>();
  return (labels, kind) => {
    const key = JSON.stringify(
      Object.entries(securityLabelsOf({ labels, segmentId: 's1', kind })).sort(),
    );
    if (!identities.has(key)) identities.set(key, 256 + identities.size);
    return identities.get(key)!;
  };
}
