import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  POLICY,
  type CommandRequest,
  type PolicyRefRequest,
} from '@strata/bus';
import { policyDecider, policyStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { PolicyReadModel } from '../read-model/policy-read-model';

/** `strata.policy.policy.delete`: deletes a policy, idempotently; its id is not reused. */
@Controller()
export class DeletePolicyHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(PolicyReadModel) private readonly readModel: PolicyReadModel,
  ) {}

  @CommandHandler(POLICY.deletePolicy)
  async handle(
    @CommandBody(POLICY.deletePolicy) request: CommandRequest<PolicyRefRequest>,
  ): Promise<{ policyId: string }> {
    const { policyId } = request.data;
    await this.runner.run(
      policyDecider,
      policyStream(policyId),
      { type: 'DeletePolicy', data: { policyId } },
      commandMeta(request),
    );
    await this.readModel.catchUp();
    return { policyId };
  }
}
