import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type AddressRelease,
  type CommandRequest,
  type ReleaseAddressRequest,
} from '@strata/bus';
import { PoolShards } from '../pools/pool-shards';

/**
 * `strata.ipam.address.release`: frees the owner's address (and its spill chain). Idempotent:
 * releasing again changes nothing and replies `released: null`. Pass `address` for an address
 * that was allocated by naming it.
 */
@Controller()
export class ReleaseAddressHandler {
  constructor(@Inject(PoolShards) private readonly pools: PoolShards) {}

  @CommandHandler(IPAM.releaseAddress)
  async handle(
    @CommandBody(IPAM.releaseAddress) request: CommandRequest<ReleaseAddressRequest>,
  ): Promise<AddressRelease> {
    const { poolId, owner, address } = request.data;
    const pool = await this.pools.pool(poolId, 'pod');
    const released = await this.pools.release(pool, owner, address, commandMeta(request));
    return { poolId, owner, released };
  }
}
