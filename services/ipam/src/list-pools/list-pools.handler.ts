import { Controller, Inject } from '@nestjs/common';
import { CommandBody, CommandHandler, IPAM, type CommandRequest, type PoolView } from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';
import { poolView } from '../pools/pool-view';

/** `strata.ipam.pool.list`: every pool, pod and VIP. */
@Controller()
export class ListPoolsHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.listPools)
  async handle(
    @CommandBody(IPAM.listPools) _request: CommandRequest<Record<string, never>>,
  ): Promise<{ pools: PoolView[] }> {
    return { pools: (await this.pools.list()).map(poolView) };
  }
}
