import { assertId, assertVni, parseIpv4 } from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec } from './protocol';
import {
  array,
  integer,
  number,
  object,
  oneOf,
  optional,
  refine,
  string,
  type Infer,
} from './schema';

/**
 * The IPAM service's contract: every subject it answers, the schema of each request's `data`
 * and the type of each reply's `data`. The service validates with these schemas; clients (CLI,
 * other services, tests, benchmarks) call with these types. Ids, addresses and VNIs are checked
 * with the domain's own validators, so a bad one is InvalidId / InvalidIp / InvalidVni before
 * any stream name is built from it.
 */

const subject = (aggregate: string, verb: string) => commandSubject('ipam', aggregate, verb);
const id = (what: string) => refine(string({ maxLength: 256 }), (value) => assertId(value, what));
const ipv4 = (what: string) =>
  refine(string({ maxLength: 64 }), (value) => {
    parseIpv4(value, what);
    return value;
  });
const vni = refine(number(), (value) => assertVni(value));
const range = object({ first: ipv4('first address'), last: ipv4('last address') });

const createPool = object({
  poolId: id('pool id'),
  kind: oneOf(['pod', 'vip'] as const),
  cidr: string({ maxLength: 64 }),
  segmentId: optional(id('segment id')),
  shardCount: optional(integer({ min: 1, max: 16_384 })),
  reserved: optional(array(range, { maxItems: 1024 })),
});
const reserveRange = object({
  poolId: id('pool id'),
  first: ipv4('first address'),
  last: ipv4('last address'),
});
const poolRef = object({ poolId: id('pool id') });
const allocateAddress = object({
  poolId: id('pool id'),
  owner: id('owner'),
  address: optional(ipv4('address')),
});
const releaseAddress = allocateAddress;
const allocateVip = object({
  poolId: id('pool id'),
  serviceId: id('service id'),
  address: optional(ipv4('address')),
});
const releaseVip = allocateVip;
const addressHistory = object({ address: ipv4('address') });
const createVniPool = object({
  poolId: id('VNI pool id'),
  first: optional(vni),
  last: optional(vni),
});
const allocateVni = object({
  segmentId: id('segment id'),
  poolId: optional(id('VNI pool id')),
  vni: optional(vni),
});
const releaseVni = object({ segmentId: id('segment id'), poolId: optional(id('VNI pool id')) });

export type CreatePoolRequest = Infer<typeof createPool>;
export type ReserveRangeRequest = Infer<typeof reserveRange>;
export type PoolRefRequest = Infer<typeof poolRef>;
export type AllocateAddressRequest = Infer<typeof allocateAddress>;
export type ReleaseAddressRequest = Infer<typeof releaseAddress>;
export type AllocateVipRequest = Infer<typeof allocateVip>;
export type ReleaseVipRequest = Infer<typeof releaseVip>;
export type AddressHistoryRequest = Infer<typeof addressHistory>;
export type CreateVniPoolRequest = Infer<typeof createVniPool>;
export type AllocateVniRequest = Infer<typeof allocateVni>;
export type ReleaseVniRequest = Infer<typeof releaseVni>;

export interface PoolView {
  readonly poolId: string;
  readonly kind: 'pod' | 'vip';
  readonly cidr: string;
  /** '' when the pool serves no segment in particular. */
  readonly segmentId: string;
  readonly shardCount: number;
  /** Never handed out (network and broadcast addresses included), merged and sorted. */
  readonly reserved: readonly { readonly first: string; readonly last: string }[];
}

export interface AddressAllocation {
  readonly poolId: string;
  readonly owner: string;
  readonly address: string;
  /** The shard that holds the address (after any spill). */
  readonly shard: number;
}

export interface AddressRelease {
  readonly poolId: string;
  readonly owner: string;
  /** The address this request released; null when the owner held none (already released). */
  readonly released: string | null;
}

export interface VipAllocation {
  readonly poolId: string;
  readonly serviceId: string;
  readonly address: string;
}

export interface VipRelease {
  readonly poolId: string;
  readonly serviceId: string;
  readonly released: string | null;
}

export interface AddressHolder {
  readonly poolId: string;
  readonly owner: string;
  /** When the address was allocated to the owner (ISO 8601, the store's recordedAt). */
  readonly from: string;
  /** When it was released; null while the owner still holds it. */
  readonly to: string | null;
}

export interface AddressHistory {
  readonly address: string;
  /** Every owner that held the address, oldest first. */
  readonly holders: readonly AddressHolder[];
}

export interface VniPoolView {
  readonly poolId: string;
  readonly first: number;
  readonly last: number;
}

export interface VniAllocation {
  readonly poolId: string;
  readonly segmentId: string;
  readonly vni: number;
}

export interface VniRelease {
  readonly poolId: string;
  readonly segmentId: string;
  readonly released: number | null;
}

/** The VNI pool used when a request names none; created on first use over 1..16777215. */
export const DEFAULT_VNI_POOL = 'default';

export const IPAM = {
  createPool: commandSpec<CreatePoolRequest, PoolView>(subject('pool', 'create'), createPool),
  reserveRange: commandSpec<ReserveRangeRequest, PoolView>(
    subject('pool', 'reserve'),
    reserveRange,
  ),
  getPool: commandSpec<PoolRefRequest, PoolView>(subject('pool', 'get'), poolRef),
  /** Refused (InvalidState) while any address is allocated; idempotent once deleted. */
  deletePool: commandSpec<PoolRefRequest, { readonly poolId: string }>(
    subject('pool', 'delete'),
    poolRef,
  ),
  listPools: commandSpec<Record<string, never>, { readonly pools: readonly PoolView[] }>(
    subject('pool', 'list'),
    object({}),
  ),
  allocateAddress: commandSpec<AllocateAddressRequest, AddressAllocation>(
    subject('address', 'allocate'),
    allocateAddress,
  ),
  releaseAddress: commandSpec<ReleaseAddressRequest, AddressRelease>(
    subject('address', 'release'),
    releaseAddress,
  ),
  addressHistory: commandSpec<AddressHistoryRequest, AddressHistory>(
    subject('address', 'history'),
    addressHistory,
  ),
  allocateVip: commandSpec<AllocateVipRequest, VipAllocation>(
    subject('vip', 'allocate'),
    allocateVip,
  ),
  releaseVip: commandSpec<ReleaseVipRequest, VipRelease>(subject('vip', 'release'), releaseVip),
  createVniPool: commandSpec<CreateVniPoolRequest, VniPoolView>(
    subject('vnipool', 'create'),
    createVniPool,
  ),
  allocateVni: commandSpec<AllocateVniRequest, VniAllocation>(
    subject('vni', 'allocate'),
    allocateVni,
  ),
  releaseVni: commandSpec<ReleaseVniRequest, VniRelease>(subject('vni', 'release'), releaseVni),
} as const;
