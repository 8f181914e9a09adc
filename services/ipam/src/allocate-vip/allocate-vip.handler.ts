import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type AllocateVipRequest,
  type CommandRequest,
  type VipAllocation,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';

/**
 * `strata.ipam.vip.allocate`: a service's virtual IP from a vip pool (the same sharded pools;
 * the owner is the service). With `address`, exactly that VIP (a service asking for a fixed
 * one); idempotent by service either way.
 */
@Controller()
export class AllocateVipHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.allocateVip)
  async handle(
    @CommandBody(IPAM.allocateVip) request: CommandRequest<AllocateVipRequest>,
  ): Promise<VipAllocation> {
    const { poolId, serviceId, address } = request.data;
    const pool = await this.pools.pool(poolId, 'vip');
    const allocated = await this.pools.allocate(pool, serviceId, address, commandMeta(request));
    return { poolId, serviceId, address: allocated.address };
  }
}
