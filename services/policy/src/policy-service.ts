import { createStrataService, type StrataService, type StrataServiceOptions } from '@strata/bus';
import { PolicyModule } from './policy.module';

export const POLICY_SERVICE = 'policy';

export type PolicyServiceOptions = Omit<StrataServiceOptions, 'name' | 'module' | 'queue'>;

/** Starts the policy service: its handlers in the `policy` queue group, over `store`. */
export function startPolicyService(options: PolicyServiceOptions): Promise<StrataService> {
  return createStrataService({
    ...options,
    name: POLICY_SERVICE,
    module: PolicyModule,
    queue: POLICY_SERVICE,
  });
}
