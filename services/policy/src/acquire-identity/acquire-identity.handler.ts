import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IDENTITY,
  type AcquireIdentityRequest,
  type CommandRequest,
  type IdentityAcquired,
} from '@strata/bus';
import {
  DomainError,
  identityPoolDecider,
  identityPoolStream,
  labelSetKey,
  securityLabels,
} from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { IdentityReleaseReactor } from '../identity-release/identity-release.reactor';
import { IDENTITY_SETTINGS, type IdentitySettings } from '../identity-release/identity-settings';

/**
 * `strata.policy.identity.acquire`: the identity of an endpoint's security labels (its labels
 * without the per-replica keys, plus its segment and kind), allocated on first use. Idempotent:
 * the same security labels get the identity they hold, appending nothing. InvalidLabels for a
 * label Strata derives itself; IdentitiesExhausted when every number is held.
 */
@Controller()
export class AcquireIdentityHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(IdentityReleaseReactor) private readonly reactor: IdentityReleaseReactor,
    @Inject(IDENTITY_SETTINGS) private readonly settings: IdentitySettings,
  ) {}

  @CommandHandler(IDENTITY.acquire)
  handle(
    @CommandBody(IDENTITY.acquire) request: CommandRequest<AcquireIdentityRequest>,
  ): Promise<IdentityAcquired> {
    const { labels, segmentId, kind } = request.data;
    const security = securityLabels(labels, { segmentId, kind });
    const key = labelSetKey(security);
    return this.reactor.exclusive(async () => {
      const { state } = await this.runner.run(
        identityPoolDecider,
        identityPoolStream(),
        {
          type: 'AcquireIdentity',
          data: { labels: security, lastIdentity: this.settings.lastIdentity },
        },
        commandMeta(request),
      );
      const held = state.byKey.get(key);
      if (held === undefined) {
        // The decider allocates or finds the key; a pool without it is a bug, not bad input.
        throw new DomainError('InvalidState', `identity pool holds no identity for ${key}`);
      }
      return { identity: held.identity, key };
    });
  }
}
