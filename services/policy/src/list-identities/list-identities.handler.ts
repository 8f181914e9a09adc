import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  IDENTITY,
  type CommandRequest,
  type IdentityView,
  type ListIdentitiesRequest,
} from '@strata/bus';
import { identityView } from '../get-identity/get-identity.handler';
import { IdentityReleaseReactor } from '../identity-release/identity-release.reactor';

/** `strata.policy.identity.list`: every allocated identity by number, and how many. */
@Controller()
export class ListIdentitiesHandler {
  constructor(@Inject(IdentityReleaseReactor) private readonly reactor: IdentityReleaseReactor) {}

  @CommandHandler(IDENTITY.list)
  async handle(
    @CommandBody(IDENTITY.list) _request: CommandRequest<ListIdentitiesRequest>,
  ): Promise<{ identities: IdentityView[]; inUse: number }> {
    const identities = (await this.reactor.all()).map(identityView);
    return { identities, inUse: identities.length };
  }
}
