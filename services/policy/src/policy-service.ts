import { createStrataService, type StrataService, type StrataServiceOptions } from '@strata/bus';
import {
  IDENTITY_SETTINGS,
  identitySettings,
  type IdentitySettings,
} from './identity-release/identity-settings';
import { PolicyModule } from './policy.module';

export const POLICY_SERVICE = 'policy';

export type PolicyServiceOptions = Omit<StrataServiceOptions, 'name' | 'module' | 'queue'> & {
  /** Identity release grace, highest identity, clock; what is left out takes the defaults. */
  readonly identities?: Partial<IdentitySettings>;
};

/** Starts the policy service: its handlers in the `policy` queue group, over `store`. */
export function startPolicyService(options: PolicyServiceOptions): Promise<StrataService> {
  const { identities, ...serviceOptions } = options;
  const settings = identitySettings(identities);
  return createStrataService({
    ...serviceOptions,
    name: POLICY_SERVICE,
    module: {
      module: PolicyModule,
      providers: [{ provide: IDENTITY_SETTINGS, useValue: settings }],
    },
    queue: POLICY_SERVICE,
  });
}
