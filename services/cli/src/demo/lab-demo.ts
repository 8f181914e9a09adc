import type { AgentDataplaneCounters, AgentStatus } from '@strata/bus';
import { applyEvent, createForwardingState, digest } from '@strata/forwarding';
import { CliError, describeError } from '../errors';
import { LabControl } from '../lab/control';
import { listNamespaces, listPinDirs, requireRoot } from '../lab/host';
import { labDown } from '../lab/lab-down';
import {
  assertLabName,
  labDir,
  labPrefix,
  ownedName,
  type LabMode,
  type LabPod,
  type LabState,
} from '../lab/lab-state';
import { labUp } from '../lab/lab-up';
import { credentialsDir } from '../lab/processes';
import {
  countersTable,
  echoTable,
  forwardingTable,
  heading,
  pingPassed,
  pingTable,
  podTable,
  trafficTable,
  type PingOutcome,
  type Probe,
} from './report';
import { showSegmentation } from './segmentation';
import { ping, tcpEcho, type EchoResult } from './traffic';

/**
 * `strata demo` (`npm run demo`): a 3-node lab on the BPF dataplane (`strata lab`, in
 * process), pods on different nodes pinging each other and echoing TCP, each node's forwarding
 * tables folded from the log and checked against its agent, the dataplane's counters, then
 * micro-segmentation (segmentation.ts: tier labels, a NetworkPolicy, a staged deny); then the
 * lab goes down, whatever happened: after a failure, and on SIGINT, SIGTERM or SIGHUP too.
 */

const NODES = 3;
const PODS_PER_NODE = 2;
const PING_COUNT = 3;
/** 1 MB: hundreds of full-size packets through the overlay each way. */
const ECHO_BYTES = 1_000_000;
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface LabDemoOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly mode: LabMode;
}

/** The demo was stopped by a signal; the lab is down. */
export class DemoInterrupted extends CliError {
  constructor(readonly signal: NodeJS.Signals) {
    super('Interrupted', `interrupted by ${signal}; the lab is down`);
  }
}

/**
 * Runs the demo and resolves with what failed (empty when every check passed). Throws
 * DemoInterrupted after a signal, or the error that stopped the demo, once the lab is down.
 */
export async function runLabDemo(
  options: LabDemoOptions,
  out: (text: string) => void,
): Promise<string[]> {
  assertLabName(options.name);
  requireRoot();
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      out(`${signal}: the lab is going down, a moment`);
      return;
    }
    // Traffic stops at once (its children are killed); `lab up` is waited for, then undone.
    out(`\n${signal}: stopping; the lab goes down once the step under way ends`);
    abort.abort(new DemoInterrupted(signal));
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    let failures: string[] = [];
    let error: unknown;
    try {
      failures = await showLab(options, out, abort.signal);
    } catch (caught) {
      error = abort.signal.aborted ? abort.signal.reason : caught;
    }
    // A lab of that name was there before: not this demo's to take down.
    if (error instanceof CliError && error.code === 'LabExists') throw error;
    const keepLogs = (error !== undefined && !abort.signal.aborted) || failures.length > 0;
    failures.push(...(await tearDownLab(options, out, keepLogs)));
    if (abort.signal.aborted) throw abort.signal.reason;
    if (error !== undefined) throw error;
    return failures;
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}

async function showLab(
  options: LabDemoOptions,
  out: (text: string) => void,
  signal: AbortSignal,
): Promise<string[]> {
  out(heading(`Lab: ${NODES} nodes x ${PODS_PER_NODE} pods, BPF dataplane, ${options.mode} mode`));
  const state = await labUp(
    { ...options, nodes: NODES, pods: PODS_PER_NODE, dataplane: 'bpf' },
    out,
  );
  signal.throwIfAborted();
  out('');
  out(podTable(state.pods));

  const failures: string[] = [];
  const { cross, local } = probePairs(state);
  out(heading(`Ping: ${PING_COUNT} packets per pair`));
  const pings: Probe<PingOutcome>[] = [];
  for (const [from, to] of [...cross, ...local]) {
    pings.push({ from, to, result: await ping(from.namespace, to.ip, PING_COUNT, signal) });
  }
  out(pingTable(pings));
  for (const probe of pings.filter((p) => !pingPassed(p.result))) {
    failures.push(`ping ${probe.from.name} -> ${probe.to.name}`);
  }

  out(heading(`TCP echo: ${ECHO_BYTES / 1e6} MB each way between nodes`));
  const echoes: Probe<EchoResult>[] = [];
  for (const [from, to] of cross) {
    echoes.push({ from, to, result: await tcpEcho(to, from.namespace, ECHO_BYTES, signal) });
  }
  out(echoTable(echoes));
  for (const probe of echoes.filter((p) => !p.result.ok)) {
    failures.push(`TCP ${probe.from.name} -> ${probe.to.name}`);
  }

  const server = state.server;
  if (server?.natsUrl == null) throw new CliError('StartFailed', 'the lab server has no NATS URL');
  const control = await LabControl.open(server.natsUrl, credentialsDir(server));
  try {
    failures.push(...(await showForwarding(state, control, out, signal)));
    signal.throwIfAborted();
    failures.push(...(await showSegmentation(state, control, out, signal)));
  } finally {
    await control.close();
  }
  return failures;
}

type Pair = readonly [from: LabPod, to: LabPod];

/**
 * Pairs across nodes, a ring through every node (node i's first pod to node i+1's last, so
 * every node sends and receives over the overlay and every pod takes part), and one pair on
 * the first node (delivered locally, never encapsulated).
 */
function probePairs(state: LabState): { cross: Pair[]; local: Pair[] } {
  const byNode = state.nodes
    .map((node) => state.pods.filter((pod) => pod.node === node.name))
    .filter((pods) => pods.length > 0);
  const cross = byNode.map((pods, i): Pair => {
    const next = byNode[(i + 1) % byNode.length];
    return [pods[0], next[next.length - 1]];
  });
  const first = byNode[0] ?? [];
  return {
    cross: byNode.length < 2 ? [] : cross,
    local: first.length < 2 ? [] : [[first[0], first[1]]],
  };
}

/**
 * Each node's desired tables, folded here from the log as the agents fold it, compared with
 * the tables the agent applied (by digest); then the counters the BPF programs kept.
 */
async function showForwarding(
  state: LabState,
  control: LabControl,
  out: (text: string) => void,
  signal: AbortSignal,
): Promise<string[]> {
  const failures: string[] = [];
  const folds = state.nodes.map((node) => createForwardingState(node.name));
  let events = 0;
  let head = 0;
  for await (const event of control.readLog()) {
    events++;
    head = event.position;
    for (const fold of folds) applyEvent(fold, event);
  }
  signal.throwIfAborted();
  const statuses = await Promise.all(state.nodes.map((node) => control.agentStatus(node.name)));
  signal.throwIfAborted();
  const podOf = new Map(state.pods.map((pod) => [pod.uid, pod.name]));

  out(
    heading(
      `Forwarding tables: each node's fold of the log (${events} events, up to position ${head})`,
    ),
  );
  state.nodes.forEach((node, i) => {
    const desired = digest(folds[i]);
    const status = statuses[i];
    const verdict =
      status === undefined
        ? 'its agent did not answer'
        : status.appliedDigest === desired
          ? 'the same as its agent applied'
          : `NOT what its agent applied (${status.appliedDigest.slice(0, 12)}, at position ${status.appliedPosition})`;
    if (status?.appliedDigest !== desired) failures.push(`tables of ${node.name}`);
    out(`\n${node.name} (VTEP ${node.underlayIp}): digest ${desired.slice(0, 12)}, ${verdict}`);
    out(forwardingTable(folds[i].tables, (uid) => podOf.get(uid) ?? uid));
  });

  const counters = state.nodes.map((node, i) => ({
    node: node.name,
    counters: countersOf(statuses[i]),
  }));
  const identities = new Map<number, string[]>();
  folds.forEach((fold) => {
    for (const entry of fold.tables.local.values()) {
      identities.set(entry.identity, [
        ...(identities.get(entry.identity) ?? []),
        podOf.get(entry.uid) ?? entry.uid,
      ]);
    }
  });
  out(heading('Dataplane counters: packets, from the BPF maps of each node'));
  out(countersTable(counters));
  out('');
  out(trafficTable(counters, (identity) => identities.get(identity)?.join('/') ?? 'world'));
  for (const { node, counters: c } of counters) {
    for (const stat of ['encapsulated', 'decapsulated'] as const) {
      if ((c?.stats[stat] ?? 0) === 0) failures.push(`nothing ${stat} on ${node}`);
    }
  }
  return failures;
}

function countersOf(status: AgentStatus | undefined): AgentDataplaneCounters | null {
  return status?.counters ?? null;
}

/**
 * `lab down` for the demo's lab, then a look at the machine: nothing named after the lab may be
 * left. Never throws; resolves with what failed. The logs stay when something failed.
 */
async function tearDownLab(
  options: LabDemoOptions,
  out: (text: string) => void,
  keepLogs: boolean,
): Promise<string[]> {
  out(heading('Lab down'));
  const failures: string[] = [];
  const steps: string[] = [];
  try {
    await labDown({ ...options, keepLogs }, (line) => steps.push(line));
  } catch (error) {
    out(steps.join('\n'));
    failures.push(`lab down: ${describeError(error)}`);
  }
  const owned = ownedName(options.name);
  const left = await listNamespaces().then(
    async (namespaces) => [
      ...namespaces.filter((namespace) => owned.test(namespace)),
      ...(await listPinDirs(owned)),
    ],
    (error: unknown) => [`(cannot list namespaces: ${describeError(error)})`],
  );
  if (left.length > 0) {
    out(`left behind: ${left.join(', ')}`);
    failures.push(`left behind: ${left.join(', ')}`);
  } else {
    out(
      `agents and server stopped; no namespace or pin dir named ${labPrefix(options.name)}* is left`,
    );
  }
  if (keepLogs) out(`the logs stay in ${labDir(options.dataDir, options.name)}`);
  return failures;
}
