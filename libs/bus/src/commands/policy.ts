import {
  assertDnsLabel,
  assertId,
  assertPort,
  MAX_POLICY_PEERS,
  MAX_POLICY_PORTS,
  parseLabels,
  POLICY_ACTIONS,
  POLICY_DIRECTIONS,
  POLICY_PROTOCOLS,
  POLICY_TIERS,
  type LabelSelector,
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
 * The policy service's contract: tiered policies as aggregates (enforcement comes later).
 * Ids, names, labels and ports are checked with the domain's own validators (InvalidId /
 * InvalidName / InvalidLabels / InvalidPort); priorities, port ranges and the tier/action
 * combination by the aggregate (InvalidArgument / InvalidPort).
 */

const subject = (verb: string) => commandSubject('policy', 'policy', verb);
const id = refine(string({ maxLength: 256 }), (value) => assertId(value, 'policy id'));
const selector = (what: string): Schema<LabelSelector> =>
  object({
    matchLabels: { parse: (value: unknown) => parseLabels(value, `${what} matchLabels`) },
  });
const port = object({
  protocol: oneOf(POLICY_PROTOCOLS),
  port: refine(number(), (value) => assertPort(value, 'port')),
  endPort: optional(refine(number(), (value) => assertPort(value, 'end port'))),
});
const fields = {
  name: refine(string({ maxLength: 256 }), (value) => assertDnsLabel(value, 'policy name')),
  tier: oneOf(POLICY_TIERS),
  priority: integer(),
  action: oneOf(POLICY_ACTIONS),
  direction: oneOf(POLICY_DIRECTIONS),
  selector: selector('selector'),
  peers: array(selector('peer'), { maxItems: MAX_POLICY_PEERS }),
  ports: array(port, { maxItems: MAX_POLICY_PORTS }),
  staged: boolean(),
};

const createPolicy = object({
  policyId: id,
  name: fields.name,
  tier: fields.tier,
  priority: fields.priority,
  action: fields.action,
  direction: fields.direction,
  selector: fields.selector,
  peers: optional(fields.peers),
  ports: optional(fields.ports),
  staged: optional(fields.staged),
});
/** Absent fields keep their value. */
const updatePolicy = object({
  policyId: id,
  name: optional(fields.name),
  tier: optional(fields.tier),
  priority: optional(fields.priority),
  action: optional(fields.action),
  direction: optional(fields.direction),
  selector: optional(fields.selector),
  peers: optional(fields.peers),
  ports: optional(fields.ports),
  staged: optional(fields.staged),
});
const policyRef = object({ policyId: id });
const listPolicies = object({ tier: optional(fields.tier) });

export type CreatePolicyRequest = Infer<typeof createPolicy>;
export type UpdatePolicyRequest = Infer<typeof updatePolicy>;
export type PolicyRefRequest = Infer<typeof policyRef>;
export type ListPoliciesRequest = Infer<typeof listPolicies>;

export type PolicyView = { readonly policyId: string } & PolicySpec;

export const POLICY = {
  createPolicy: commandSpec<CreatePolicyRequest, PolicyView>(subject('create'), createPolicy),
  updatePolicy: commandSpec<UpdatePolicyRequest, PolicyView>(subject('update'), updatePolicy),
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
