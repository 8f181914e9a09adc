import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type CommandRequest,
  type ReleaseVipRequest,
  type VipRelease,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';

/** `strata.ipam.vip.release`: frees a service's VIP; idempotent (`released: null` after). */
@Controller()
export class ReleaseVipHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.releaseVip)
  async handle(
    @CommandBody(IPAM.releaseVip) request: CommandRequest<ReleaseVipRequest>,
  ): Promise<VipRelease> {
    const { poolId, serviceId, address } = request.data;
    const pool = await this.pools.pool(poolId, 'vip');
    const released = await this.pools.release(pool, serviceId, address, commandMeta(request));
    return { poolId, serviceId, released };
  }
}
