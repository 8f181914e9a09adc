import { CONFIG, POLICY, type ApplyPolicyReply } from '@strata/bus';
import { POLICY_DIRECTIONS, policyRuleId } from '@strata/domain';
import { applyEvent, createForwardingState } from '@strata/forwarding';
import { policyRequests } from '../client/policy.command';
import type { LabControl } from '../lab/control';
import { podEndpointLabels } from '../lab/lab-pod';
import { writeState, type LabPod, type LabState } from '../lab/lab-state';
import { renderTable } from '../output/table';
import { heading } from './report';
import {
  CONNECT_TIMEOUT_MS,
  counterFailures,
  expectedCounts,
  NETWORK_POLICY_FILE,
  NETWORK_POLICY_YAML,
  probeFailures,
  PROBES,
  probeTable,
  ruleCountersTable,
  SERVER_PORTS,
  SHOP,
  STAGED_POLICY_FILE,
  STAGED_POLICY_ID,
  STAGED_POLICY_YAML,
  TIERS,
  type ProbeRound,
  type RuleName,
} from './segmentation-report';
import { startNameServer, tcpConnect, type ConnectOutcome } from './traffic';

/**
 * The demo's micro-segmentation scene, on the lab the demo brought up: the pods join namespace
 * `shop` with tier labels (web, api, db), a Kubernetes NetworkPolicy lets db take TCP/5432
 * from api only, and a staged platform-tier deny of everything into db is counted but enforces
 * nothing. After every change the scene waits until every agent applied the log's head (the
 * lab's wait, a signal); it probes with TCP connects and reads the agents' per-rule counters.
 * Resolves with what was not as expected.
 */

const CONVERGE_TIMEOUT_MS = 60_000;

export async function showSegmentation(
  state: LabState,
  control: LabControl,
  out: (text: string) => void,
  signal: AbortSignal,
): Promise<string[]> {
  const nodes = state.nodes.map((node) => node.name);
  const missing = Object.keys(TIERS).filter((name) => !state.pods.some((p) => p.name === name));
  if (missing.length > 0) return [`segmentation: the lab has no pod ${missing.join(', ')}`];

  out(heading(`Micro-segmentation: tier labels, namespace ${SHOP}`));
  for (const [i, pod] of state.pods.entries()) {
    const tier = TIERS[pod.name];
    if (tier === undefined) continue;
    const labelled: LabPod = { ...pod, k8sNamespace: SHOP, labels: { ...pod.labels, tier } };
    state.pods[i] = labelled;
    await control.execute(CONFIG.relabelEndpoint, {
      uid: pod.uid,
      labels: podEndpointLabels(state, labelled),
    });
  }
  await writeState(state);
  const labelled = await control.waitApplied(nodes, CONVERGE_TIMEOUT_MS);
  signal.throwIfAborted();
  const identities = await identitiesByUid(control, nodes[0]);
  out(
    renderTable(
      ['POD', 'NODE', 'IP', 'LABELS', 'IDENTITY'],
      state.pods.map((pod) => [
        pod.name,
        pod.node,
        pod.ip,
        `tier=${TIERS[pod.name] ?? '-'}, strata.io/namespace=${SHOP}`,
        String(identities.get(pod.uid) ?? '?'),
      ]),
    ),
  );
  out(
    `\nrelabelled through config, which gives each new label set its identity: the number the ` +
      'source node stamps into the VXLAN-GBP header and the destination decides on. Policies ' +
      `select labels, never addresses. Every agent applied the log up to position ${labelled}`,
  );

  const pods = new Map(state.pods.map((pod) => [pod.name, pod]));
  const targets = [...new Set(PROBES.map((probe) => probe.to))].map(
    (name) => pods.get(name) as LabPod,
  );
  const servers: { stop: () => Promise<void> }[] = [];
  try {
    for (const pod of targets) servers.push(await startNameServer(pod, SERVER_PORTS, signal));
    const probeAll = () =>
      Promise.all(
        PROBES.map((probe) => {
          const from = pods.get(probe.from) as LabPod;
          const to = pods.get(probe.to) as LabPod;
          return tcpConnect(
            from.namespace,
            { ip: to.ip, port: probe.port },
            CONNECT_TIMEOUT_MS,
            signal,
          );
        }),
      );
    const failures: string[] = [];
    const round = (title: string, outcomes: ConnectOutcome[], enforced: boolean): ProbeRound => {
      const result: ProbeRound = {
        title,
        outcomes,
        expect: (probe) => (enforced ? probe.expect : 'allowed'),
      };
      failures.push(...probeFailures(PROBES, result).map((what) => `segmentation: ${what}`));
      return result;
    };

    const open = round('WITHOUT POLICY', await probeAll(), false);
    const applied = await applyPolicies(control, NETWORK_POLICY_YAML, NETWORK_POLICY_FILE, false);
    const enforcedAt = await control.waitApplied(nodes, CONVERGE_TIMEOUT_MS);
    const enforced = round('WITH POLICY', await probeAll(), true);
    out(heading(`Micro-segmentation: NetworkPolicy ${SHOP}/db-from-api, enforced`));
    out(indent(NETWORK_POLICY_YAML));
    for (const reply of applied) {
      out(
        `${reply.outcome} as policy ${reply.policyId} (${reply.tier} tier, priority ` +
          `${reply.priority}), through the path of ` +
          `\`strata policy apply -f\`; every agent applied the log up to position ${enforcedAt}`,
      );
    }
    out(
      `TCP connects with a ${CONNECT_TIMEOUT_MS} ms timeout, each a new flow. A denied SYN is ` +
        'dropped silently (no RST, no ICMP), so a drop is silence; an allowed connect is ' +
        "answered with the target pod's name. Every target listens on " +
        `${SERVER_PORTS.join(' and ')}, so a silent port is the policy, not a closed port.\n`,
    );
    out(probeTable(pods, PROBES, [open, enforced]));

    const staged = await applyPolicies(control, STAGED_POLICY_YAML, STAGED_POLICY_FILE, true);
    const stagedAt = await control.waitApplied(nodes, CONVERGE_TIMEOUT_MS);
    const withStaged = round('WITH STAGED DENY', await probeAll(), true);
    out(heading('Micro-segmentation: staged platform-tier deny, counted, not enforced'));
    out(indent(STAGED_POLICY_YAML));
    for (const reply of staged) {
      out(
        `${reply.outcome} as policy ${reply.policyId} (${reply.tier} tier, priority ` +
          `${reply.priority}, staged: ${reply.staged}), through the path of ` +
          `\`strata policy stage -f\`; every agent applied the log up to position ${stagedAt}\n`,
      );
    }
    out(probeTable(pods, PROBES, [enforced, withStaged]));
    out('\nthe traffic the NetworkPolicy allows still flows: a staged policy only counts');

    const statuses = await Promise.all(nodes.map((node) => control.agentStatus(node)));
    signal.throwIfAborted();
    const nodeRules = nodes.map((node, i) => ({ node, rules: statuses[i]?.policyRules }));
    const allowRule = policyRuleId(applied[0].policyId, 'ingress', 0);
    const stagedRule = policyRuleId(STAGED_POLICY_ID, 'ingress', 0);
    out(heading("Micro-segmentation: verdicts per rule, packets, from each node's BPF counters"));
    out(ruleCountersTable(nodeRules, ruleNames([...applied, ...staged])));
    out(
      '\ncounted where the selected pod (db) receives a new flow: its first packet, and every ' +
        'retry of a dropped SYN; established packets ride conntrack, uncounted. WOULD DENY: ' +
        'allowed, but the staged policy would deny it (`strata policy show` sums these over the ' +
        'nodes)',
    );
    const expected = expectedCounts(pods, [{ staged: false }, { staged: true }], {
      allow: allowRule,
      staged: stagedRule,
    });
    failures.push(
      ...counterFailures(nodeRules, expected, stagedRule).map((what) => `segmentation: ${what}`),
    );
    return failures;
  } finally {
    for (const server of servers) await server.stop();
  }
}

/** The file's policies through `strata policy apply|stage`'s parsing, applied one by one. */
async function applyPolicies(
  control: LabControl,
  text: string,
  file: string,
  staged: boolean,
): Promise<ApplyPolicyReply[]> {
  const replies: ApplyPolicyReply[] = [];
  for (const request of policyRequests(text, file)) {
    replies.push(
      await control.execute(POLICY.applyPolicy, staged ? { ...request, staged: true } : request),
    );
  }
  return replies;
}

function ruleNames(policies: readonly ApplyPolicyReply[]): (rule: number) => RuleName | undefined {
  const names = new Map<number, RuleName>();
  for (const policy of policies) {
    for (const direction of POLICY_DIRECTIONS) {
      policy[direction].forEach((rule, index) =>
        names.set(policyRuleId(policy.policyId, direction, index), {
          policy: `${policy.policyId}${policy.staged ? ' (staged)' : ''}`,
          action: rule.action,
        }),
      );
    }
  }
  return (rule) => names.get(rule);
}

/** Every endpoint's identity, as a node's fold of the log has it (local and remote). */
async function identitiesByUid(control: LabControl, node: string): Promise<Map<string, number>> {
  const fold = createForwardingState(node);
  for await (const event of control.readLog()) applyEvent(fold, event);
  const { local, remote } = fold.tables;
  return new Map(
    [...local.values(), ...remote.values()].map((entry) => [entry.uid, entry.identity]),
  );
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
