import type { PolicyDirection } from './model';

/** Rule ids below this are reserved (docs/policy.md). */
export const MIN_POLICY_RULE_ID = 16;
/** Nothing selected the endpoint, or evaluation ran past the baseline tier: allowed. */
export const RULE_ID_DEFAULT_ALLOW = 0;
/** Application-tier isolation: selected by a policy of that direction, no rule matched. */
export const RULE_ID_ISOLATION = 1;

/** FNV-1a, 32 bits, over the UTF-16 code units of `text` (ids and directions are ASCII). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The id of rule `index` (0-based, in the order the policy lists its rules of `direction`):
 * `16 + fnv1a32("<policyId>/<direction>/<index>") mod (2^32 - 16)`, docs/policy.md. Stable across
 * nodes and restarts; the dataplane counts per rule id, the CLI maps ids back to rules.
 */
export function policyRuleId(policyId: string, direction: PolicyDirection, index: number): number {
  return (
    MIN_POLICY_RULE_ID +
    (fnv1a32(`${policyId}/${direction}/${index}`) % (2 ** 32 - MIN_POLICY_RULE_ID))
  );
}
