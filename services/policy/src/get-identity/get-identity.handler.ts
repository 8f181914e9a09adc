import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  IDENTITY,
  type CommandRequest,
  type IdentityRefRequest,
  type IdentityView,
} from '@strata/bus';
import { DomainError } from '@strata/domain';
import type { HeldIdentity } from '../identity-release/identity-holders';
import { IdentityReleaseReactor } from '../identity-release/identity-release.reactor';

/** `strata.policy.identity.get`: one allocated identity, its security labels and holders. */
@Controller()
export class GetIdentityHandler {
  constructor(@Inject(IdentityReleaseReactor) private readonly reactor: IdentityReleaseReactor) {}

  @CommandHandler(IDENTITY.get)
  async handle(
    @CommandBody(IDENTITY.get) request: CommandRequest<IdentityRefRequest>,
  ): Promise<IdentityView> {
    const held = await this.reactor.view(request.data.identity);
    if (held === undefined) {
      throw new DomainError('NotFound', `identity ${request.data.identity} is not allocated`);
    }
    return identityView(held);
  }
}

export function identityView(held: HeldIdentity): IdentityView {
  return {
    identity: held.identity,
    key: held.key,
    labels: held.labels,
    holders: [...held.holders].sort(),
  };
}
