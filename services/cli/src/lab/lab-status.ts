import { table } from '../client/options';
import { LabControl } from './control';
import { isRunning, listNamespaces } from './host';
import { assertLabName, requireState, type LabState } from './lab-state';
import { podEndpointLabels } from './lab-pod';
import { credentialsDir } from './processes';

export interface LabStatus {
  readonly name: string;
  readonly dir: string;
  readonly phase: LabState['phase'];
  readonly mode: LabState['mode'];
  readonly dataplane: LabState['dataplane'];
  readonly underlay: LabState['underlay'];
  readonly podSubnet: string;
  readonly server: {
    readonly pid: number;
    readonly alive: boolean;
    readonly natsUrl: string | null;
    readonly healthUrl: string;
  } | null;
  /** The log's last position, when the server answered. */
  readonly logHead: number | null;
  readonly nodes: readonly {
    readonly name: string;
    readonly namespace: string;
    readonly present: boolean;
    readonly underlayIp: string;
    readonly vtepMac: string;
    readonly pinDir: string;
  }[];
  readonly agents: readonly {
    readonly node: string;
    readonly pid: number | null;
    readonly alive: boolean;
    /** From the agent's status answer; null when it did not answer. */
    readonly registered: boolean | null;
    readonly position: number | null;
    readonly appliedPosition: number | null;
    readonly localEndpoints: number | null;
    readonly remoteEndpoints: number | null;
    /** BPF drops by reason (the agent's counters); null without them (memory dataplane). */
    readonly drops: Readonly<Record<string, number>> | null;
  }[];
  readonly pods: readonly {
    readonly name: string;
    readonly node: string;
    readonly ip: string;
    readonly mac: string;
    readonly namespace: string;
    readonly present: boolean;
    readonly hostInterface: string;
    /** Kubernetes-style namespace; null for the `n<i>p<j>` pods. */
    readonly k8sNamespace: string | null;
    /** The endpoint's labels as the lab records them. */
    readonly labels: Readonly<Record<string, string>>;
  }[];
}

/** `strata lab status`: the state file, checked against the machine and asked of the agents. */
export async function labStatus(options: { name: string; dataDir: string }): Promise<LabStatus> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const namespaces = new Set(await listNamespaces());
  const server = state.server;
  const serverAlive = server !== null && (await isRunning(server));
  let control: LabControl | undefined;
  if (server?.natsUrl != null && serverAlive) {
    control = await LabControl.open(server.natsUrl, credentialsDir(server)).catch(() => undefined);
  }
  try {
    const agents = await Promise.all(
      state.nodes.map(async (node) => {
        const alive = node.agent !== null && (await isRunning(node.agent));
        const status = alive ? await control?.agentStatus(node.name) : undefined;
        return {
          node: node.name,
          pid: node.agent?.pid ?? null,
          alive,
          registered: status?.registered ?? null,
          position: status?.position ?? null,
          appliedPosition: status?.appliedPosition ?? null,
          localEndpoints: status?.tables.local ?? null,
          remoteEndpoints: status?.tables.remote ?? null,
          drops: dropsOf(status),
        };
      }),
    );
    const atLeast = Math.max(0, ...agents.map((agent) => agent.position ?? 0));
    const logHead = (await control?.logHead(atLeast).catch(() => undefined)) ?? null;
    return {
      name: state.name,
      dir: state.dir,
      phase: state.phase,
      mode: state.mode,
      dataplane: state.dataplane,
      underlay: state.underlay,
      podSubnet: state.podSubnet,
      server:
        server === null
          ? null
          : {
              pid: server.pid,
              alive: serverAlive,
              natsUrl: server.natsUrl,
              healthUrl: `http://127.0.0.1:${server.healthPort}`,
            },
      logHead,
      nodes: state.nodes.map((node) => ({
        name: node.name,
        namespace: node.namespace,
        present: namespaces.has(node.namespace),
        underlayIp: node.underlayIp,
        vtepMac: node.vtepMac,
        pinDir: node.pinDir,
      })),
      agents,
      pods: state.pods.map((pod) => ({
        name: pod.name,
        node: pod.node,
        ip: pod.ip,
        mac: pod.mac,
        namespace: pod.namespace,
        present: namespaces.has(pod.namespace),
        hostInterface: pod.hostInterface,
        k8sNamespace: pod.k8sNamespace ?? null,
        labels: podEndpointLabels(state, pod),
      })),
    };
  } finally {
    await control?.close();
  }
}

/** A BPF agent's status carries its dataplane counters beside the AgentStatus fields. */
function dropsOf(status: object | undefined): Readonly<Record<string, number>> | null {
  const counters = (status as { counters?: { drops?: Record<string, number> } } | undefined)
    ?.counters;
  return counters?.drops ?? null;
}

const show = (value: number | boolean | null) =>
  value === null ? '-' : typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);

export function statusTables(status: LabStatus): string {
  const server = status.server;
  return [
    `lab ${status.name} (${status.phase}): ${status.dataplane} dataplane, ${status.mode} mode, ` +
      `underlay ${status.underlay.subnet}, pods ${status.podSubnet}`,
    server === null
      ? 'server: not started'
      : `server: pid ${server.pid} ${server.alive ? 'alive' : 'gone'}, NATS ${server.natsUrl ?? '-'}, ` +
        `log head ${show(status.logHead)}`,
    '',
    table(
      ['NODE', 'NAMESPACE', 'PRESENT', 'UNDERLAY IP', 'VTEP MAC'],
      status.nodes.map((node) => [
        node.name,
        node.namespace,
        show(node.present),
        node.underlayIp,
        node.vtepMac,
      ]),
      '(no nodes)',
    ),
    '',
    table(
      ['AGENT', 'PID', 'ALIVE', 'REGISTERED', 'POSITION', 'APPLIED', 'LOCAL', 'REMOTE', 'DROPS'],
      status.agents.map((agent) => [
        agent.node,
        show(agent.pid),
        show(agent.alive),
        show(agent.registered),
        show(agent.position),
        show(agent.appliedPosition),
        show(agent.localEndpoints),
        show(agent.remoteEndpoints),
        agent.drops === null
          ? '-'
          : String(Object.values(agent.drops).reduce((sum, count) => sum + count, 0)),
      ]),
      '(no agents)',
    ),
    '',
    table(
      ['POD', 'NODE', 'IP', 'MAC', 'NAMESPACE', 'HOST INTERFACE', 'K8S NAMESPACE'],
      status.pods.map((pod) => [
        pod.name,
        pod.node,
        pod.ip,
        pod.mac,
        `${pod.namespace}${pod.present ? '' : ' (missing)'}`,
        pod.hostInterface,
        pod.k8sNamespace ?? '-',
      ]),
      '(no pods)',
    ),
  ].join('\n');
}
