import type { ForwardingState } from '../forwarding-state';
import { evaluatePolicyFacts, type PolicyQuery, type PolicyVerdict } from './evaluate';

/**
 * The verdict on one packet from `source` to `destination` by the reference semantics
 * (docs/policy.md), from the state's facts — the oracle the compiled tables are held against.
 * Throws DomainError (InvalidIp, InvalidPort, InvalidArgument) on a malformed query.
 */
export function evaluatePolicy(state: ForwardingState, query: PolicyQuery): PolicyVerdict {
  return evaluatePolicyFacts(state.policyFacts, query);
}

export {
  EVALUATED_PROTOCOLS,
  type DirectionVerdict,
  type EvaluatedProtocol,
  type PolicyQuery,
  type PolicyVerdict,
  type Verdict,
} from './evaluate';
export { identityOfAddress, lookupPolicy, type PolicyLookup } from './lookup';
export { securityLabelsOf, selectorMatches, PROTOCOL_NUMBERS } from './facts';
export type { EndpointFact, NamedPortFact, PolicyFact, PolicyFacts } from './facts';
export { portBlocks } from './prefix';
