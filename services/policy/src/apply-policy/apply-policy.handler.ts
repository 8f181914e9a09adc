import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  POLICY,
  type ApplyPolicyReply,
  type ApplyPolicyRequest,
  type CommandRequest,
} from '@strata/bus';
import { policyDecider, policyStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { PolicyReadModel } from '../read-model/policy-read-model';

/**
 * `strata.policy.policy.apply`: declarative create-or-replace (what `strata policy apply` and
 * the Kubernetes watcher send). The id holds exactly this spec afterwards; an equal spec appends
 * nothing; a deleted id is created again. Replies with what happened and the policy.
 */
@Controller()
export class ApplyPolicyHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(PolicyReadModel) private readonly readModel: PolicyReadModel,
  ) {}

  @CommandHandler(POLICY.applyPolicy)
  async handle(
    @CommandBody(POLICY.applyPolicy) request: CommandRequest<ApplyPolicyRequest>,
  ): Promise<ApplyPolicyReply> {
    const { policyId } = request.data;
    const { events } = await this.runner.run(
      policyDecider,
      policyStream(policyId),
      { type: 'ApplyPolicy', data: request.data },
      commandMeta(request),
    );
    const type = events[0]?.type;
    const outcome =
      type === 'PolicyCreated' ? 'created' : type === 'PolicyUpdated' ? 'updated' : 'unchanged';
    return { outcome, ...(await this.readModel.policy(policyId)) };
  }
}
