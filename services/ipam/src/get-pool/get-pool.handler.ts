import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  IPAM,
  type CommandRequest,
  type PoolRefRequest,
  type PoolView,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';
import { poolView } from '../pools/pool-view';

/**
 * `strata.ipam.pool.get`: a pool's CIDR, kind, segment, shard count and reservations; NotFound
 * once deleted (read fresh, so a deletion by another replica shows).
 */
@Controller()
export class GetPoolHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.getPool)
  async handle(
    @CommandBody(IPAM.getPool) request: CommandRequest<PoolRefRequest>,
  ): Promise<PoolView> {
    return poolView(await this.pools.pool(request.data.poolId, undefined, { fresh: true }));
  }
}
