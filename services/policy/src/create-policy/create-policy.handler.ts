import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  POLICY,
  type CommandRequest,
  type CreatePolicyRequest,
  type PolicyView,
} from '@strata/bus';
import { policyDecider, policyStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { PolicyReadModel } from '../read-model/policy-read-model';

/**
 * `strata.policy.policy.create`: a tiered policy. Idempotent: the same policy again returns it
 * and appends nothing; other settings under the same id are AlreadyExists.
 */
@Controller()
export class CreatePolicyHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(PolicyReadModel) private readonly readModel: PolicyReadModel,
  ) {}

  @CommandHandler(POLICY.createPolicy)
  async handle(
    @CommandBody(POLICY.createPolicy) request: CommandRequest<CreatePolicyRequest>,
  ): Promise<PolicyView> {
    const { policyId } = request.data;
    await this.runner.run(
      policyDecider,
      policyStream(policyId),
      { type: 'CreatePolicy', data: request.data },
      commandMeta(request),
    );
    return this.readModel.policy(policyId);
  }
}
