import { runServiceMain } from '@strata/bus';
import { POLICY_SERVICE, startPolicyService } from './policy-service';

/**
 * Runs the policy service alone, as one replica: `node dist/services/policy/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db [--credentials .strata/credentials]`.
 * Flags, readiness line and shutdown are runServiceMain's.
 */
runServiceMain({
  name: POLICY_SERVICE,
  description: 'Strata policy service: tiered micro-segmentation policies',
  start: startPolicyService,
});
