import type { PoolView } from '@strata/bus';
import { formatAddressRange, type ActiveAddressPool } from '@strata/domain';

export function poolView(pool: ActiveAddressPool): PoolView {
  return {
    poolId: pool.poolId,
    kind: pool.kind,
    cidr: pool.cidr,
    segmentId: pool.segmentId,
    shardCount: pool.shardCount,
    reserved: pool.reserved.map(formatAddressRange),
  };
}
