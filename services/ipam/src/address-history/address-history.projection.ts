import { Inject, Injectable } from '@nestjs/common';
import { EVENT_STORE, type AddressHolder } from '@strata/bus';
import type { AddressAllocated, AddressReleased } from '@strata/domain';
import type { EventStore, RecordedEvent } from '@strata/eventstore';

interface Holding {
  readonly poolId: string;
  readonly owner: string;
  readonly from: string;
  to: string | null;
}

/**
 * Who held an address, and when: a read model folded from the pool shards' AddressAllocated and
 * AddressReleased events (pod addresses and VIPs alike; pools never overlap, so an address
 * names one place). It is built from the log, by any replica, and read-your-writes: every query
 * first folds what the log gained since the last one, up to the head position it saw when the
 * query began, so an allocation acknowledged before the query is always in its answer.
 */
@Injectable()
export class AddressHistoryProjection {
  private position = 0;
  private readonly byAddress = new Map<string, Holding[]>();
  private updating: Promise<void> = Promise.resolve();

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  /** Every owner of `address` (canonical dotted quad), oldest first. */
  async holdersOf(address: string): Promise<AddressHolder[]> {
    await this.catchUp();
    return (this.byAddress.get(address) ?? []).map((holding) => ({ ...holding }));
  }

  /** Folds the log up to its current head; concurrent calls share the work in order. */
  catchUp(): Promise<void> {
    const next = this.updating.then(() => this.foldToHead());
    this.updating = next.catch(() => undefined);
    return next;
  }

  private async foldToHead(): Promise<void> {
    const head = await this.store.headPosition();
    if (head <= this.position) return;
    const events = this.store.readAll({
      after: this.position,
      untilPosition: head,
      filter: { categories: ['poolshard'], eventTypes: ['AddressAllocated', 'AddressReleased'] },
    });
    for await (const event of events) {
      this.apply(event as RecordedEvent<(AddressAllocated | AddressReleased)['data']>, event.type);
    }
    this.position = head;
  }

  private apply(
    event: RecordedEvent<(AddressAllocated | AddressReleased)['data']>,
    type: string,
  ): void {
    const { address, owner, poolId } = event.data;
    const at = event.recordedAt.toISOString();
    let holdings = this.byAddress.get(address);
    if (holdings === undefined) {
      holdings = [];
      this.byAddress.set(address, holdings);
    }
    if (type === 'AddressAllocated') {
      holdings.push({ poolId, owner, from: at, to: null });
      return;
    }
    for (let i = holdings.length - 1; i >= 0; i--) {
      if (holdings[i].owner === owner && holdings[i].to === null) {
        holdings[i].to = at;
        return;
      }
    }
  }
}
