import { createStrataService, type StrataService, type StrataServiceOptions } from '@strata/bus';
import { IpamModule } from './ipam.module';

export const IPAM_SERVICE = 'ipam';

export type IpamServiceOptions = Omit<StrataServiceOptions, 'name' | 'module' | 'queue'>;

/** Starts the IPAM service: its handlers in the `ipam` queue group, over `store`. */
export function startIpamService(options: IpamServiceOptions): Promise<StrataService> {
  return createStrataService({
    ...options,
    name: IPAM_SERVICE,
    module: IpamModule,
    queue: IPAM_SERVICE,
  });
}
