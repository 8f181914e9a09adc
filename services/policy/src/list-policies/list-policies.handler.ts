import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  POLICY,
  type CommandRequest,
  type ListPoliciesRequest,
  type PolicyView,
} from '@strata/bus';
import { PolicyReadModel } from '../read-model/policy-read-model';

/** `strata.policy.policy.list`: every policy (of one tier if given) in evaluation order. */
@Controller()
export class ListPoliciesHandler {
  constructor(@Inject(PolicyReadModel) private readonly readModel: PolicyReadModel) {}

  @CommandHandler(POLICY.listPolicies)
  async handle(
    @CommandBody(POLICY.listPolicies) request: CommandRequest<ListPoliciesRequest>,
  ): Promise<{ policies: PolicyView[] }> {
    return { policies: await this.readModel.activePolicies(request.data.tier) };
  }
}
