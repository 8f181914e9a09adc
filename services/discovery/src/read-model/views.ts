import type { ResolvedService } from '@strata/bus';
import type { Protocol } from '@strata/domain';
import type { Resolution } from './discovery-read-model';

/** What the API shows of a resolution, optionally narrowed to one service port. */
export function resolvedServiceView(
  resolution: Resolution,
  port?: { protocol: Protocol; port: number },
): ResolvedService {
  const { serviceId, name, vip, ports } = resolution.service;
  return {
    serviceId,
    name,
    vip,
    ports:
      port === undefined
        ? ports
        : ports.filter((p) => p.protocol === port.protocol && p.port === port.port),
    segmentId: resolution.segmentId,
    backends: resolution.backends,
    excluded: resolution.excluded,
  };
}
