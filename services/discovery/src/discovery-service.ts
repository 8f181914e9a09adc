import { createStrataService, type StrataService, type StrataServiceOptions } from '@strata/bus';
import { DiscoveryModule } from './discovery.module';

export const DISCOVERY_SERVICE = 'discovery';

export type DiscoveryServiceOptions = Omit<StrataServiceOptions, 'name' | 'module' | 'queue'>;

/** Starts the discovery service: its handlers in the `discovery` queue group, over `store`. */
export function startDiscoveryService(options: DiscoveryServiceOptions): Promise<StrataService> {
  return createStrataService({
    ...options,
    name: DISCOVERY_SERVICE,
    module: DiscoveryModule,
    queue: DISCOVERY_SERVICE,
  });
}
