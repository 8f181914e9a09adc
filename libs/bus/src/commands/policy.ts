import {
  assertDnsSubdomain,
  assertId,
  assertPort,
  MAX_CIDR_EXCEPTIONS,
  MAX_EXPRESSION_VALUES,
  MAX_POLICY_PEERS,
  MAX_POLICY_PORTS,
  MAX_POLICY_RULES,
  MAX_SELECTOR_EXPRESSIONS,
  parseLabels,
  POLICY_DIRECTIONS,
  POLICY_PROTOCOLS,
  POLICY_TIERS,
  RULE_ACTIONS,
  SELECTOR_OPERATORS,
  type LabelSelectorInput,
  type PolicyPeerInput,
  type PolicyPortInput,
  type PolicySpec,
} from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec } from './protocol';
import {
  array,
  boolean,
  integer,
  number,
  object,
  oneOf,
  optional,
  refine,
  string,
  type Infer,
  type Schema,
} from './schema';

/**
 * The policy service's contract: tiered policies (model v2, libs/domain/src/policy/model.ts) as
 * aggregates. The shape is checked here (UnknownField / InvalidRequest, with the field's path);
 * ids, names, labels and ports with the domain's own validators (InvalidId / InvalidName /
 * InvalidLabels / InvalidPort); priorities, selectors' operators and values, CIDRs, limits and
 * the tier/action combination by the aggregate (InvalidArgument / InvalidLabels / InvalidCidr).
 */

const subject = (verb: string) => commandSubject('policy', 'policy', verb);
const id = refine(string({ maxLength: 256 }), (value) => assertId(value, 'policy id'));

/** Picks the schema by which field is present (`key`), so each variant stays strict. */
function either<A, B>(key: string, present: Schema<A>, absent: Schema<B>): Schema<A | B> {
  return {
    parse(value, path) {
      const has =
        typeof value === 'object' &&
        value !== null &&
        (value as Record<string, unknown>)[key] !== undefined;
      return has ? present.parse(value, path) : absent.parse(value, path);
    },
  };
}

const selector: Schema<LabelSelectorInput> = object({
  matchLabels: optional({ parse: (value: unknown, path: string) => parseLabels(value, path) }),
  matchExpressions: optional(
    array(
      object({
        key: string({ maxLength: 317 }),
        operator: oneOf(SELECTOR_OPERATORS),
        values: optional(array(string({ maxLength: 63 }), { maxItems: MAX_EXPRESSION_VALUES })),
      }),
      { maxItems: MAX_SELECTOR_EXPRESSIONS },
    ),
  ),
});
const peer: Schema<PolicyPeerInput> = either(
  'selector',
  object({ selector }),
  object({
    cidr: string({ maxLength: 18 }),
    except: optional(array(string({ maxLength: 18 }), { maxItems: MAX_CIDR_EXCEPTIONS })),
  }),
);
const port: Schema<PolicyPortInput> = either(
  'name',
  object({ protocol: oneOf(POLICY_PROTOCOLS), name: string({ maxLength: 15 }) }),
  object({
    protocol: oneOf(POLICY_PROTOCOLS),
    port: refine(number(), (value, path) => assertPort(value, path)),
    endPort: optional(refine(number(), (value, path) => assertPort(value, path))),
  }),
);
const rule = object({
  action: oneOf(RULE_ACTIONS),
  peers: optional(array(peer, { maxItems: MAX_POLICY_PEERS })),
  ports: optional(array(port, { maxItems: MAX_POLICY_PORTS })),
});
const fields = {
  name: refine(string({ maxLength: 253 }), (value) => assertDnsSubdomain(value, 'policy name')),
  tier: oneOf(POLICY_TIERS),
  priority: integer(),
  selector,
  directions: array(oneOf(POLICY_DIRECTIONS), { maxItems: POLICY_DIRECTIONS.length }),
  rules: array(rule, { maxItems: MAX_POLICY_RULES }),
  staged: boolean(),
  source: object({
    kind: oneOf(['strata', 'kubernetes'] as const),
    namespace: string({ maxLength: 63 }),
    name: string({ maxLength: 253 }),
  }),
};

/** A whole spec: directions default to those with rules, rules to none, staged to false. */
const specFields = {
  name: fields.name,
  tier: fields.tier,
  priority: fields.priority,
  selector: fields.selector,
  directions: optional(fields.directions),
  ingress: optional(fields.rules),
  egress: optional(fields.rules),
  staged: optional(fields.staged),
  source: optional(fields.source),
};
const createPolicy = object({ policyId: id, ...specFields });
/** Create or replace (declarative); nothing appended when equal. */
const applyPolicy = object({ policyId: id, ...specFields });
/** Absent fields keep their value. */
const updatePolicy = object({
  policyId: id,
  name: optional(fields.name),
  tier: optional(fields.tier),
  priority: optional(fields.priority),
  selector: optional(fields.selector),
  directions: optional(fields.directions),
  ingress: optional(fields.rules),
  egress: optional(fields.rules),
  staged: optional(fields.staged),
  source: optional(fields.source),
});
const policyRef = object({ policyId: id });
const listPolicies = object({ tier: optional(fields.tier) });

export type CreatePolicyRequest = Infer<typeof createPolicy>;
export type ApplyPolicyRequest = Infer<typeof applyPolicy>;
export type UpdatePolicyRequest = Infer<typeof updatePolicy>;
export type PolicyRefRequest = Infer<typeof policyRef>;
export type ListPoliciesRequest = Infer<typeof listPolicies>;

/** A policy as the service answers: its id, stream revision, and canonical spec. */
export type PolicyView = { readonly policyId: string; readonly revision: number } & PolicySpec;

/** What apply did: created, updated (replaced), or nothing (equal). */
export type ApplyPolicyReply = {
  readonly outcome: 'created' | 'updated' | 'unchanged';
} & PolicyView;

export const POLICY = {
  createPolicy: commandSpec<CreatePolicyRequest, PolicyView>(subject('create'), createPolicy),
  updatePolicy: commandSpec<UpdatePolicyRequest, PolicyView>(subject('update'), updatePolicy),
  applyPolicy: commandSpec<ApplyPolicyRequest, ApplyPolicyReply>(subject('apply'), applyPolicy),
  deletePolicy: commandSpec<PolicyRefRequest, { readonly policyId: string }>(
    subject('delete'),
    policyRef,
  ),
  getPolicy: commandSpec<PolicyRefRequest, PolicyView>(subject('get'), policyRef),
  /** In evaluation order: tier, then priority, then id. */
  listPolicies: commandSpec<ListPoliciesRequest, { readonly policies: readonly PolicyView[] }>(
    subject('list'),
    listPolicies,
  ),
} as const;
