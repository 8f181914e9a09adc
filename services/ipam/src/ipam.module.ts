import { Module } from '@nestjs/common';
import { AddressHistoryHandler } from './address-history/address-history.handler';
import { AddressHistoryProjection } from './address-history/address-history.projection';
import { AllocateAddressHandler } from './allocate-address/allocate-address.handler';
import { AllocateVipHandler } from './allocate-vip/allocate-vip.handler';
import { AllocateVniHandler } from './allocate-vni/allocate-vni.handler';
import { CreatePoolHandler } from './create-pool/create-pool.handler';
import { CreateVniPoolHandler } from './create-vni-pool/create-vni-pool.handler';
import { DeletePoolHandler } from './delete-pool/delete-pool.handler';
import { GetPoolHandler } from './get-pool/get-pool.handler';
import { ListPoolsHandler } from './list-pools/list-pools.handler';
import { PoolShards } from './pools/pool-shards';
import { ReleaseAddressHandler } from './release-address/release-address.handler';
import { ReleaseVipHandler } from './release-vip/release-vip.handler';
import { ReleaseVniHandler } from './release-vni/release-vni.handler';
import { ReserveRangeHandler } from './reserve-range/reserve-range.handler';

/** The IPAM service: one handler per use case (each its own folder), over PoolShards. */
@Module({
  controllers: [
    CreatePoolHandler,
    ReserveRangeHandler,
    GetPoolHandler,
    ListPoolsHandler,
    DeletePoolHandler,
    AllocateAddressHandler,
    ReleaseAddressHandler,
    AddressHistoryHandler,
    AllocateVipHandler,
    ReleaseVipHandler,
    CreateVniPoolHandler,
    AllocateVniHandler,
    ReleaseVniHandler,
  ],
  providers: [PoolShards, AddressHistoryProjection],
})
export class IpamModule {}
