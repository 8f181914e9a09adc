import { Inject, Injectable, Logger } from '@nestjs/common';
import { CaughtUpReadModel, EVENT_STORE, type PolicyView } from '@strata/bus';
import {
  DomainError,
  isDomainError,
  POLICY_TIERS,
  policyDecider,
  specOf,
  type ActivePolicy,
  type PolicyEvent,
  type PolicyState,
  type PolicyTier,
} from '@strata/domain';
import { parseStreamName, type EventStore, type RecordedEvent } from '@strata/eventstore';

interface Entry {
  readonly state: PolicyState;
  readonly revision: number;
}

/**
 * Every policy, folded from `policy-*` with the aggregate's own `evolve` (which upcasts
 * schema-v1 events), caught up per query, with each policy's stream revision. An event whose
 * data is malformed is logged and skipped: one bad event must not take every query down.
 */
@Injectable()
export class PolicyReadModel extends CaughtUpReadModel {
  private readonly logger = new Logger(PolicyReadModel.name);
  private readonly policies = new Map<string, Entry>();

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    super(store, ['policy']);
  }

  async policy(policyId: string): Promise<PolicyView> {
    await this.catchUp();
    const entry = this.policies.get(policyId);
    if (entry?.state.status === 'active') return policyView(entry.state, entry.revision);
    throw new DomainError(
      'NotFound',
      entry?.state.status === 'deleted'
        ? `policy ${policyId} was deleted`
        : `policy ${policyId} not found`,
    );
  }

  /** Active policies (of one tier when given) in evaluation order: tier, priority, then id. */
  async activePolicies(tier?: PolicyTier): Promise<PolicyView[]> {
    await this.catchUp();
    return [...this.policies.values()]
      .flatMap(({ state, revision }) =>
        state.status === 'active' && (tier === undefined || state.tier === tier)
          ? [policyView(state, revision)]
          : [],
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
    const state = this.policies.get(id)?.state ?? policyDecider.initialState();
    try {
      const next = policyDecider.evolve(state, event as unknown as PolicyEvent);
      this.policies.set(id, { state: next, revision: event.revision });
    } catch (error: unknown) {
      if (!isDomainError(error)) throw error;
      this.logger.warn(`skipped ${event.type} at position ${event.position}: ${error.message}`);
    }
  }
}

export function policyView(policy: ActivePolicy, revision: number): PolicyView {
  return { policyId: policy.policyId, revision, ...specOf(policy) };
}
