import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type CommandRequest,
  type CreatePoolRequest,
  type PoolView,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';
import { poolView } from '../pools/pool-view';

/** `strata.ipam.pool.create`: claims the CIDR in the global address space, records the pool. */
@Controller()
export class CreatePoolHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.createPool)
  async handle(
    @CommandBody(IPAM.createPool) request: CommandRequest<CreatePoolRequest>,
  ): Promise<PoolView> {
    const pool = await this.pools.create(
      { type: 'CreatePool', data: request.data },
      commandMeta(request),
    );
    return poolView(pool);
  }
}
