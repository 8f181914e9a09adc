import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type AddressAllocation,
  type AllocateAddressRequest,
  type CommandRequest,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';

/**
 * `strata.ipam.address.allocate`: the owner's (pod's) address in a pod pool. Idempotent by
 * owner: asking again, with any command id, returns the address it holds.
 */
@Controller()
export class AllocateAddressHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.allocateAddress)
  async handle(
    @CommandBody(IPAM.allocateAddress) request: CommandRequest<AllocateAddressRequest>,
  ): Promise<AddressAllocation> {
    const { poolId, owner, address } = request.data;
    const pool = await this.pools.pool(poolId, 'pod');
    const allocated = await this.pools.allocate(pool, owner, address, commandMeta(request));
    return { poolId, owner, ...allocated };
  }
}
