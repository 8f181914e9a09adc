import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type CommandRequest,
  type PoolView,
  type ReserveRangeRequest,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';
import { poolView } from '../pools/pool-view';

/** `strata.ipam.pool.reserve`: a range that is never handed out (held addresses stay held). */
@Controller()
export class ReserveRangeHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.reserveRange)
  async handle(
    @CommandBody(IPAM.reserveRange) request: CommandRequest<ReserveRangeRequest>,
  ): Promise<PoolView> {
    const { poolId, first, last } = request.data;
    return poolView(await this.pools.reserve(poolId, { first, last }, commandMeta(request)));
  }
}
