import type { ForwardingState } from '../forwarding-state';
import type { DirectionVerdict, PolicyQuery, PolicyVerdict } from '../policy';
import type { LocalEndpointEntry, RemoteEndpointEntry } from '../tables';

/**
 * The walk of one packet through the forwarding state, as the dataplane takes it: source
 * anti-spoofing and identity on the source node, egress policy, the route (local delivery, or
 * encapsulation to the destination node's VTEP with the segment's VNI), then on the
 * destination node the VTEP and VNI checks of decapsulation, ingress policy, and delivery.
 * Drop reasons are the dataplane's own (dataplane/bpf/lib/maps.h), in lower case.
 *
 * Policy comes from the reference evaluator (`evaluatePolicy`, libs/forwarding/src/policy,
 * docs/policy.md), passed in: the trace states the two directions' verdicts it returns —
 * rule, tier, policy and revision. Without one, the policy steps say so and do not drop.
 */

/** The reference evaluator's signature (`evaluatePolicy`); a test may pass its own. */
export type PolicyEvaluator = (state: ForwardingState, query: PolicyQuery) => PolicyVerdict;

export type TraceStepName =
  | 'source'
  | 'anti-spoofing'
  | 'identity'
  | 'egress-policy'
  | 'route'
  | 'encapsulate'
  | 'decapsulate'
  | 'ingress-policy'
  | 'deliver';

export interface TraceStep {
  readonly step: TraceStepName;
  readonly node: string;
  /** `pass`: the packet goes on; `drop`: it stops here; `unchecked`: nothing to check with. */
  readonly result: 'pass' | 'drop' | 'unchecked';
  readonly detail: string;
}

export interface TraceResult {
  readonly outcome: 'delivered' | 'dropped';
  /** 'delivered', or the drop reason (`no-local-ep`, `policy-denied`, ...). */
  readonly reason: string;
  readonly sourceNode: string | null;
  readonly destinationNode: string | null;
  readonly steps: readonly TraceStep[];
  /** The evaluator's full answer; null without an evaluator. */
  readonly policy: PolicyVerdict | null;
}

export interface TraceInput {
  readonly packet: PolicyQuery;
  /** The node the source endpoint lives on (the owner of the source IP); undefined: none. */
  readonly sourceNode: string | undefined;
  /** The state of any node at the moment traced. */
  readonly stateOf: (node: string) => ForwardingState;
  readonly evaluate?: PolicyEvaluator;
}

export function tracePacket(input: TraceInput): TraceResult {
  const { packet, sourceNode } = input;
  const steps: TraceStep[] = [];
  let destinationNode: string | null = null;
  let policy: PolicyVerdict | null = null;
  const step = (name: TraceStepName, node: string, result: TraceStep['result'], detail: string) =>
    steps.push({ step: name, node, result, detail });
  const drop = (reason: string): TraceResult => ({
    outcome: 'dropped',
    reason,
    sourceNode: sourceNode ?? null,
    destinationNode,
    steps,
    policy,
  });

  if (sourceNode === undefined) {
    step('source', '', 'drop', `no endpoint on any node has the source address ${packet.source}`);
    return drop('spoofed-ip');
  }
  const here = input.stateOf(sourceNode);
  const source = here.tables.local.get(packet.source);
  if (source === undefined) {
    step('source', sourceNode, 'drop', `${packet.source} is not a local endpoint of ${sourceNode}`);
    return drop('spoofed-ip');
  }
  step(
    'source',
    sourceNode,
    'pass',
    `${source.uid} on ${sourceNode}, interface ${source.interfaceName}, MAC ${source.mac}`,
  );
  if (source.vni === 0) {
    step('anti-spoofing', sourceNode, 'drop', `the source's segment is unknown (VNI 0)`);
    return drop('no-segment');
  }
  step(
    'anti-spoofing',
    sourceNode,
    'pass',
    `sent from its own address ${packet.source} and MAC ${source.mac}, VNI ${source.vni}`,
  );

  if (input.evaluate !== undefined) policy = input.evaluate(here, packet);
  step(
    'identity',
    sourceNode,
    'pass',
    `source identity ${source.identity}` +
      (policy === null ? '' : `, destination identity ${policy.destinationIdentity}`),
  );
  if (!policyStep(steps, 'egress-policy', sourceNode, policy?.egress)) return drop('policy-denied');

  const local = here.tables.local.get(packet.destination);
  const remote = here.tables.remote.get(packet.destination);
  if (local !== undefined) {
    destinationNode = sourceNode;
    step('route', sourceNode, 'pass', `${packet.destination} is local: ${local.uid}`);
    if (!sameSegment(steps, sourceNode, source, local)) return drop(segmentReason(local));
    if (!policyStep(steps, 'ingress-policy', sourceNode, policy?.ingress)) {
      return drop('policy-denied');
    }
    step('deliver', sourceNode, 'pass', `to ${local.uid} on ${local.interfaceName}`);
    return delivered(sourceNode, destinationNode, steps, policy);
  }
  if (remote === undefined) {
    step(
      'route',
      sourceNode,
      'drop',
      `no endpoint route to ${packet.destination} on ${sourceNode}`,
    );
    return drop('no-route');
  }
  destinationNode = remote.node;
  step('route', sourceNode, 'pass', `${packet.destination} is ${remote.uid} on ${remote.node}`);
  if (!sameSegment(steps, sourceNode, source, remote)) return drop(segmentReason(remote));
  step(
    'encapsulate',
    sourceNode,
    'pass',
    `VXLAN to VTEP ${remote.vtepAddress} (${remote.vtepMac}), VNI ${remote.vni}, group policy id ${source.identity}`,
  );

  const there = input.stateOf(remote.node);
  const vtep = there.tables.vteps.get(sourceNode);
  const target = there.tables.local.get(packet.destination);
  if (vtep === undefined) {
    step('decapsulate', remote.node, 'drop', `${sourceNode} is not a known VTEP on ${remote.node}`);
    return drop('unknown-vtep');
  }
  if (target === undefined) {
    step(
      'decapsulate',
      remote.node,
      'drop',
      `${packet.destination} is no local endpoint of ${remote.node}`,
    );
    return drop('no-local-ep');
  }
  if (target.vni !== remote.vni) {
    step(
      'decapsulate',
      remote.node,
      'drop',
      `VNI ${remote.vni} is not ${target.uid}'s segment (VNI ${target.vni})`,
    );
    return drop('vni-mismatch');
  }
  step(
    'decapsulate',
    remote.node,
    'pass',
    `from VTEP ${vtep.address} (${sourceNode}), VNI ${remote.vni}`,
  );
  if (!policyStep(steps, 'ingress-policy', remote.node, policy?.ingress)) {
    return drop('policy-denied');
  }
  step('deliver', remote.node, 'pass', `to ${target.uid} on ${target.interfaceName}`);
  return delivered(sourceNode, destinationNode, steps, policy);
}

function delivered(
  sourceNode: string,
  destinationNode: string,
  steps: TraceStep[],
  policy: PolicyVerdict | null,
): TraceResult {
  return { outcome: 'delivered', reason: 'delivered', sourceNode, destinationNode, steps, policy };
}

function sameSegment(
  steps: TraceStep[],
  node: string,
  source: LocalEndpointEntry,
  destination: LocalEndpointEntry | RemoteEndpointEntry,
): boolean {
  if (destination.vni !== 0 && destination.vni === source.vni) return true;
  steps.push({
    step: 'route',
    node,
    result: 'drop',
    detail:
      destination.vni === 0
        ? `the destination's segment is unknown (VNI 0)`
        : `source and destination are in different segments (VNI ${source.vni} and ${destination.vni})`,
  });
  return false;
}

function segmentReason(destination: LocalEndpointEntry | RemoteEndpointEntry): string {
  return destination.vni === 0 ? 'no-segment' : 'segment-mismatch';
}

/** Adds the policy step of one direction; false when it denies. */
function policyStep(
  steps: TraceStep[],
  name: 'egress-policy' | 'ingress-policy',
  node: string,
  verdict: DirectionVerdict | undefined,
): boolean {
  if (verdict === undefined) {
    steps.push({
      step: name,
      node,
      result: 'unchecked',
      detail: 'no policy evaluator in this build',
    });
    return true;
  }
  steps.push({
    step: name,
    node,
    result: verdict.verdict === 'allow' ? 'pass' : 'drop',
    detail: describeVerdict(verdict),
  });
  return verdict.verdict === 'allow';
}

/** `allow by rule 123 (application tier, policy web-in "web" revision 4, rule #0: allow)`. */
export function describeVerdict(verdict: DirectionVerdict): string {
  const passed =
    verdict.passedTiers.length === 0 ? '' : `; passed tiers: ${verdict.passedTiers.join(', ')}`;
  switch (verdict.reason) {
    case 'rule':
      return (
        `${verdict.verdict} by rule ${verdict.rule} (${verdict.tier} tier, policy ${verdict.policyId}` +
        ` "${verdict.policyName}" revision ${verdict.policyRevision}, rule #${verdict.ruleIndex}: ${verdict.action})${passed}`
      );
    case 'isolated':
      return `${verdict.verdict}: isolated by the application tier (rule ${verdict.rule})${passed}`;
    case 'not-selected':
      return `${verdict.verdict}: no policy selects the endpoint (rule ${verdict.rule})`;
    case 'end-of-tiers':
      return `${verdict.verdict}: no rule matched in any tier (rule ${verdict.rule})${passed}`;
  }
}
