import { Module } from '@nestjs/common';
import { CreatePolicyHandler } from './create-policy/create-policy.handler';
import { DeletePolicyHandler } from './delete-policy/delete-policy.handler';
import { GetPolicyHandler } from './get-policy/get-policy.handler';
import { ListPoliciesHandler } from './list-policies/list-policies.handler';
import { PolicyReadModel } from './read-model/policy-read-model';
import { UpdatePolicyHandler } from './update-policy/update-policy.handler';

/** The policy service: one handler per use case (each its own folder), over its read model. */
@Module({
  controllers: [
    CreatePolicyHandler,
    UpdatePolicyHandler,
    DeletePolicyHandler,
    GetPolicyHandler,
    ListPoliciesHandler,
  ],
  providers: [PolicyReadModel],
})
export class PolicyModule {}
