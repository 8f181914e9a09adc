import { Module } from '@nestjs/common';
import { AcquireIdentityHandler } from './acquire-identity/acquire-identity.handler';
import { ApplyPolicyHandler } from './apply-policy/apply-policy.handler';
import { CreatePolicyHandler } from './create-policy/create-policy.handler';
import { DeletePolicyHandler } from './delete-policy/delete-policy.handler';
import { GetIdentityHandler } from './get-identity/get-identity.handler';
import { GetPolicyHandler } from './get-policy/get-policy.handler';
import { IdentityReleaseReactor } from './identity-release/identity-release.reactor';
import { ListIdentitiesHandler } from './list-identities/list-identities.handler';
import { ListPoliciesHandler } from './list-policies/list-policies.handler';
import { PolicyReadModel } from './read-model/policy-read-model';
import { UpdatePolicyHandler } from './update-policy/update-policy.handler';

/** The policy service: one handler per use case (each its own folder), over its read model. */
@Module({
  controllers: [
    CreatePolicyHandler,
    ApplyPolicyHandler,
    UpdatePolicyHandler,
    DeletePolicyHandler,
    GetPolicyHandler,
    ListPoliciesHandler,
    AcquireIdentityHandler,
    GetIdentityHandler,
    ListIdentitiesHandler,
  ],
  // IDENTITY_SETTINGS comes from startPolicyService.
  providers: [PolicyReadModel, IdentityReleaseReactor],
})
export class PolicyModule {}
