import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type CommandRequest,
  type PoolRefRequest,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';

/**
 * `strata.ipam.pool.delete`: deletes a pool none of whose addresses is allocated
 * (InvalidState otherwise) and releases its CIDR in the global address space. Idempotent:
 * deleting a deleted pool again only repeats the (idempotent) release.
 */
@Controller()
export class DeletePoolHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.deletePool)
  async handle(
    @CommandBody(IPAM.deletePool) request: CommandRequest<PoolRefRequest>,
  ): Promise<{ poolId: string }> {
    const { poolId } = request.data;
    await this.pools.delete(poolId, commandMeta(request));
    return { poolId };
  }
}
