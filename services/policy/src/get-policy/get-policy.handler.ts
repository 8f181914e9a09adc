import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  POLICY,
  type CommandRequest,
  type PolicyRefRequest,
  type PolicyView,
} from '@strata/bus';
import { PolicyReadModel } from '../read-model/policy-read-model';

/** `strata.policy.policy.get`: one policy, or NotFound. */
@Controller()
export class GetPolicyHandler {
  constructor(@Inject(PolicyReadModel) private readonly readModel: PolicyReadModel) {}

  @CommandHandler(POLICY.getPolicy)
  async handle(
    @CommandBody(POLICY.getPolicy) request: CommandRequest<PolicyRefRequest>,
  ): Promise<PolicyView> {
    return this.readModel.policy(request.data.policyId);
  }
}
