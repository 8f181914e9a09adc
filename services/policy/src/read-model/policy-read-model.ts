import { Inject, Injectable } from '@nestjs/common';
import { CaughtUpReadModel, EVENT_STORE, type PolicyView } from '@strata/bus';
import {
  DomainError,
  POLICY_TIERS,
  policyDecider,
  type ActivePolicy,
  type PolicyEvent,
  type PolicyState,
  type PolicyTier,
} from '@strata/domain';
import { parseStreamName, type EventStore, type RecordedEvent } from '@strata/eventstore';

/** Every policy, folded from `policy-*` with the aggregate's own `evolve`, caught up per query. */
@Injectable()
export class PolicyReadModel extends CaughtUpReadModel {
  private readonly policies = new Map<string, PolicyState>();

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    super(store, ['policy']);
  }

  async policy(policyId: string): Promise<ActivePolicy> {
    await this.catchUp();
    const state = this.policies.get(policyId);
    if (state?.status === 'active') return state;
    throw new DomainError(
      'NotFound',
      state?.status === 'deleted'
        ? `policy ${policyId} was deleted`
        : `policy ${policyId} not found`,
    );
  }

  /** Active policies (of one tier when given) in evaluation order: tier, priority, then id. */
  async activePolicies(tier?: PolicyTier): Promise<ActivePolicy[]> {
    await this.catchUp();
    return [...this.policies.values()]
      .filter(
        (state): state is ActivePolicy =>
          state.status === 'active' && (tier === undefined || state.tier === tier),
      )
      .sort(
        (a, b) =>
          POLICY_TIERS.indexOf(a.tier) - POLICY_TIERS.indexOf(b.tier) ||
          a.priority - b.priority ||
          (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0),
      );
  }

  protected apply(event: RecordedEvent): void {
    const { id } = parseStreamName(event.stream);
    const state = this.policies.get(id) ?? policyDecider.initialState();
    this.policies.set(id, policyDecider.evolve(state, event as unknown as PolicyEvent));
  }
}

export function policyView(policy: ActivePolicy): PolicyView {
  const { status: _status, ...view } = policy;
  return view;
}
