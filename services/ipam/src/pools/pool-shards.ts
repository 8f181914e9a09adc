import { Inject, Injectable } from '@nestjs/common';
import { CommandRejected } from '@strata/bus';
import {
  addressPoolDecider,
  addressSpaceDecider,
  addressSpaceStream,
  allocationOf,
  DomainError,
  homeShard,
  isDomainError,
  openShardCommand,
  poolShardDecider,
  poolShardStream,
  poolStream,
  shardForAddress,
  shardReserveCommands,
  shardUsage,
  type ActiveAddressPool,
  type AddressPoolState,
  type CreatePool,
  type PoolKind,
  type PoolShardCommand,
  type PoolShardEvent,
  type PoolShardState,
} from '@strata/domain';
import { DeciderRunner, type CommandMeta, type RunResult } from '@strata/eventstore';

/** The one global address space every pool's CIDR is claimed in. */
export const GLOBAL_ADDRESS_SPACE = 'global';

/**
 * The IPAM walk over pools and their shards, as the header of libs/domain/src/pool/sharding.ts
 * tells it: an owner's allocation goes to its home shard (hash of the owner) and follows spill
 * markers from there; a release walks the same chain and releases from its end backwards; a
 * reservation is recorded on the pool, then fanned out to the shards it covers; shards are
 * opened lazily, from the pool's state, the first time a command finds one not open.
 *
 * Every step is one DeciderRunner run on one shard's stream, so allocations to different shards
 * never contend, and two replicas deciding on the same shard are kept apart by the store's
 * expected-revision check (the runner retries the loser on fresh state).
 */
@Injectable()
export class PoolShards {
  constructor(@Inject(DeciderRunner) private readonly runner: DeciderRunner) {}

  /**
   * The pool, or NotFound (also once deleted). A pool's layout never changes after creation, so
   * a cached state is good enough to route by; only "not there" is checked against the store.
   * Pass `fresh` where a deletion by another replica must be seen (get, delete).
   */
  async pool(
    poolId: string,
    kind?: PoolKind,
    options: { fresh?: boolean } = {},
  ): Promise<ActiveAddressPool> {
    let { state } = await this.runner.load(addressPoolDecider, poolStream(poolId), options);
    if (state.status !== 'active') {
      ({ state } = await this.runner.load(addressPoolDecider, poolStream(poolId), { fresh: true }));
    }
    if (state.status !== 'active') {
      throw new DomainError(
        'NotFound',
        state.status === 'deleted' ? `pool ${poolId} was deleted` : `pool ${poolId} not found`,
      );
    }
    if (kind !== undefined && state.kind !== kind) {
      throw new DomainError(
        'InvalidArgument',
        `pool ${poolId} is a ${state.kind} pool; ${kind === 'vip' ? 'service VIPs come from vip pools' : 'pod addresses come from pod pools'}`,
      );
    }
    return state;
  }

  /**
   * Creates a pool: validates it against the pool's current state first (so nothing is claimed
   * for a command that cannot succeed), claims its CIDR in the global address space (no two
   * pools overlap), then records it. A crash in between leaves a claim owned by the pool id,
   * which a retry of the same command finds and goes on from.
   */
  async create(command: CreatePool, meta: CommandMeta): Promise<ActiveAddressPool> {
    const stream = poolStream(command.data.poolId);
    const { state } = await this.runner.load(addressPoolDecider, stream, { fresh: true });
    const [created] = addressPoolDecider.decide(command, state);
    if (created?.type === 'PoolCreated') {
      await this.runner.run(
        addressSpaceDecider,
        addressSpaceStream(GLOBAL_ADDRESS_SPACE),
        {
          type: 'ClaimCidr',
          data: {
            spaceId: GLOBAL_ADDRESS_SPACE,
            owner: command.data.poolId,
            cidr: created.data.cidr,
          },
        },
        meta,
      );
    }
    const run = await this.runner.run(addressPoolDecider, stream, command, meta);
    return active(run.state, command.data.poolId);
  }

  /**
   * Deletes a pool none of whose addresses is allocated (InvalidState otherwise): counts what
   * every opened shard holds, records the deletion with that count (the pool decides), then
   * releases the pool's CIDR claim. A crash in between leaves a deleted pool still claiming its
   * CIDR; a retry finds the pool deleted (nothing new) and releases the claim.
   *
   * Not atomic with allocations: an allocation that lands on a shard after it was counted, or on
   * a replica whose cached pool is still active, is not seen. Deleting a pool is an operator's
   * act on a pool nobody allocates from any more.
   */
  async delete(poolId: string, meta: CommandMeta): Promise<void> {
    const stream = poolStream(poolId);
    const { state } = await this.runner.load(addressPoolDecider, stream, { fresh: true });
    const allocatedAddresses = state.status === 'active' ? await this.allocatedIn(state) : 0;
    await this.runner.run(
      addressPoolDecider,
      stream,
      { type: 'DeletePool', data: { poolId, allocatedAddresses } },
      meta,
    );
    await this.runner.run(
      addressSpaceDecider,
      addressSpaceStream(GLOBAL_ADDRESS_SPACE),
      { type: 'ReleaseCidr', data: { spaceId: GLOBAL_ADDRESS_SPACE, owner: poolId } },
      meta,
    );
  }

  /** How many addresses the pool's shards hold, each shard read fresh (unopened ones hold none). */
  private async allocatedIn(pool: ActiveAddressPool): Promise<number> {
    let allocated = 0;
    for (let shard = 0; shard < pool.shardCount; shard++) {
      const state = await this.shardState(pool, shard);
      if (state.status === 'open') allocated += shardUsage(state).allocated;
    }
    return allocated;
  }

  /** Every pool whose CIDR is claimed and which was created, in claim order. */
  async list(): Promise<ActiveAddressPool[]> {
    const { state } = await this.runner.load(
      addressSpaceDecider,
      addressSpaceStream(GLOBAL_ADDRESS_SPACE),
      { fresh: true },
    );
    const pools: ActiveAddressPool[] = [];
    for (const poolId of state.status === 'active' ? state.claims.keys() : []) {
      const { state: pool } = await this.runner.load(addressPoolDecider, poolStream(poolId), {
        fresh: true,
      });
      if (pool.status === 'active') pools.push(pool);
    }
    return pools;
  }

  /** Records a reservation on the pool, then on every shard it covers (opening them). */
  async reserve(
    poolId: string,
    range: { first: string; last: string },
    meta: CommandMeta,
  ): Promise<ActiveAddressPool> {
    const reserved = await this.runner.run(
      addressPoolDecider,
      poolStream(poolId),
      { type: 'ReserveRange', data: { poolId, ...range } },
      meta,
    );
    const pool = active(reserved.state, poolId);
    // Also when the pool already had the range: a retry finishes a fan-out that crashed midway.
    for (const command of shardReserveCommands(pool, range)) {
      await this.onShard(pool, command.data.shard, command, meta);
    }
    return pool;
  }

  /**
   * The owner's address: the one it holds, else a new one. Without `address`, from its home
   * shard onwards along the spill chain; with it, exactly that address in the shard owning it
   * (after checking the owner holds nothing along its chain).
   */
  async allocate(
    pool: ActiveAddressPool,
    owner: string,
    address: string | undefined,
    meta: CommandMeta,
  ): Promise<{ address: string; shard: number }> {
    let shard: number;
    if (address === undefined) {
      shard = homeShard(owner, pool.shardCount);
    } else {
      shard = shardForAddress(pool, address);
      const held = await this.heldAlongChain(pool, owner);
      if (held !== undefined && held.address !== address) {
        throw new DomainError(
          'AlreadyExists',
          `${owner} already holds ${held.address} in pool ${pool.poolId}`,
        );
      }
    }
    for (let hops = 0; hops < pool.shardCount; hops++) {
      const run = await this.onShard(
        pool,
        shard,
        allocateCommand(pool, shard, owner, address),
        meta,
      );
      const found = allocationOf(run.state, owner);
      if (found.kind === 'allocated') return { address: found.address, shard };
      if (found.kind === 'none') throw duplicateCommand(meta, `allocation for ${owner}`);
      shard = found.toShard;
    }
    throw new DomainError('PoolExhausted', `pool ${pool.poolId} has no free address`);
  }

  /**
   * Releases the owner's address; returns it, or null when the owner held none. Without
   * `address` the owner's chain is walked from its home shard (on fresh state: a stale chain
   * could release a spill marker before the address it leads to) and released from its end
   * backwards; with `address`, only the shard owning that address is asked.
   */
  async release(
    pool: ActiveAddressPool,
    owner: string,
    address: string | undefined,
    meta: CommandMeta,
  ): Promise<string | null> {
    const chain =
      address === undefined ? await this.chainOf(pool, owner) : [shardForAddress(pool, address)];
    let released: string | null = null;
    for (const shard of [...chain].reverse()) {
      if (address !== undefined) {
        const found = allocationOf(await this.shardState(pool, shard), owner);
        if (found.kind !== 'allocated' || found.address !== address) continue;
      }
      let run;
      try {
        run = await this.runner.run(
          poolShardDecider,
          poolShardStream(pool.poolId, shard),
          { type: 'ReleaseAddress', data: { poolId: pool.poolId, shard, owner } },
          meta,
        );
      } catch (error) {
        // A shard never opened holds nothing to release.
        if (isDomainError(error) && error.code === 'NotFound') continue;
        throw error;
      }
      for (const event of run.events) {
        if (event.type === 'AddressReleased') released = event.data.address;
      }
    }
    return released;
  }

  /** The shards from the owner's home shard along its spill markers, read fresh. */
  private async chainOf(pool: ActiveAddressPool, owner: string): Promise<number[]> {
    const chain = [homeShard(owner, pool.shardCount)];
    while (chain.length < pool.shardCount) {
      const state = await this.shardState(pool, chain[chain.length - 1]);
      const found = allocationOf(state, owner);
      if (found.kind !== 'spilled') break;
      chain.push(found.toShard);
    }
    return chain;
  }

  private async heldAlongChain(
    pool: ActiveAddressPool,
    owner: string,
  ): Promise<{ address: string; shard: number } | undefined> {
    const chain = await this.chainOf(pool, owner);
    const last = chain[chain.length - 1];
    const found = allocationOf(await this.shardState(pool, last), owner);
    return found.kind === 'allocated' ? { address: found.address, shard: last } : undefined;
  }

  private async shardState(pool: ActiveAddressPool, shard: number): Promise<PoolShardState> {
    const stream = poolShardStream(pool.poolId, shard);
    return (await this.runner.load(poolShardDecider, stream, { fresh: true })).state;
  }

  /** Runs `command` on a shard, opening the shard first when it says it is not open. */
  private async onShard(
    pool: ActiveAddressPool,
    shard: number,
    command: PoolShardCommand,
    meta: CommandMeta,
  ): Promise<RunResult<PoolShardState, PoolShardEvent>> {
    const stream = poolShardStream(pool.poolId, shard);
    try {
      return await this.runner.run(poolShardDecider, stream, command, meta);
    } catch (error) {
      if (!isDomainError(error) || error.code !== 'NotFound') throw error;
    }
    await this.runner.run(poolShardDecider, stream, openShardCommand(pool, shard), meta);
    return this.runner.run(poolShardDecider, stream, command, meta);
  }
}

function allocateCommand(
  pool: ActiveAddressPool,
  shard: number,
  owner: string,
  address: string | undefined,
): PoolShardCommand {
  return {
    type: 'AllocateAddress',
    data: { poolId: pool.poolId, shard, owner, ...(address === undefined ? {} : { address }) },
  };
}

function active(state: AddressPoolState, poolId: string): ActiveAddressPool {
  if (state.status !== 'active') throw new DomainError('NotFound', `pool ${poolId} not found`);
  return state;
}

/**
 * The store already held this command's events, but the state no longer shows their outcome:
 * the command id was applied long ago and something changed since (or it was reused for a
 * different intent). Retrying is safe; a new intent needs a new command id.
 */
export function duplicateCommand(meta: CommandMeta, what: string): CommandRejected {
  return new CommandRejected(
    'DuplicateCommand',
    `command ${meta.commandId} was already applied and its outcome has since changed (${what}); use a new command id for a new request`,
  );
}
