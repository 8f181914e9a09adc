import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  POLICY,
  type CommandRequest,
  type PolicyView,
  type UpdatePolicyRequest,
} from '@strata/bus';
import { policyDecider, policyStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { PolicyReadModel } from '../read-model/policy-read-model';

/**
 * `strata.policy.policy.update`: changes the fields given (the result is validated as a whole);
 * returns the policy. Nothing changed, nothing appended.
 */
@Controller()
export class UpdatePolicyHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(PolicyReadModel) private readonly readModel: PolicyReadModel,
  ) {}

  @CommandHandler(POLICY.updatePolicy)
  async handle(
    @CommandBody(POLICY.updatePolicy) request: CommandRequest<UpdatePolicyRequest>,
  ): Promise<PolicyView> {
    const { policyId } = request.data;
    await this.runner.run(
      policyDecider,
      policyStream(policyId),
      { type: 'UpdatePolicy', data: request.data },
      commandMeta(request),
    );
    return this.readModel.policy(policyId);
  }
}
