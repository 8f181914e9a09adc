import { InvalidArgumentError, Option, type Command } from 'commander';
import { print, type OutputFormat } from '../client/options';
import { parseNonEmpty } from '../flags';
import { DEFAULT_DATA_DIR } from '../server/server-file';
import { labAgentRestart } from './lab-agent';
import { labDown } from './lab-down';
import { labExec } from './lab-exec';
import { labNamespaceLabel, labPodAdd, labPodDelete, labPodLabel, labWait } from './lab-pod';
import { MAX_NODES, MAX_PODS_PER_NODE, type LabDataplane, type LabMode } from './lab-state';
import { labStatus, statusTables } from './lab-status';
import { labUp } from './lab-up';
import { parseLabelArgument, parseNamedPortsArgument } from './pod-spec';

/**
 * `strata lab up|exec|status|wait|pod add|pod label|pod delete|namespace label|agent
 * restart|down`: a Strata cluster on one machine, every node and pod a network namespace, a
 * real server and a real agent per node (see lab-up.ts, lab-pod.ts). Each command
 * finds the lab through `<data-dir>/lab-<name>/lab.json`.
 */

interface LabOptions {
  readonly name: string;
  readonly dataDir: string;
}

export function registerLabCommand(program: Command): void {
  const lab = program
    .command('lab')
    .description('a cluster on one machine: each node and pod a network namespace, real agents')
    // `lab exec <pod> ip -4 addr`: everything after the pod goes to the command, options too.
    .enablePositionalOptions();

  labCommand(lab, 'up', 'build the lab: underlay, nodes, server, agents, pods; wait until applied')
    .addOption(new Option('--nodes <n>', `nodes, 1-${MAX_NODES}`).argParser(integer).default(2))
    .addOption(
      new Option(
        '--pods <m>',
        `pods per node named n<i>p<j>, 0-${MAX_PODS_PER_NODE} (default 2, 0 with --pods-file)`,
      ).argParser(integer),
    )
    .addOption(
      new Option(
        '--pods-file <file>',
        'JSON: pods with chosen names, nodes, namespaces and labels (deploy/lab/README.md)',
      ).argParser(parseNonEmpty),
    )
    .addOption(
      new Option('--mode <mode>', 'BPF attach mode of the agents')
        .choices(['tc', 'xdp'])
        .default('tc'),
    )
    .addOption(
      new Option('--dataplane <kind>', 'what the agents program')
        .choices(['bpf', 'memory'])
        .default('bpf'),
    )
    .action(
      async (
        options: LabOptions & {
          nodes: number;
          pods?: number;
          podsFile?: string;
          mode: LabMode;
          dataplane: LabDataplane;
        },
      ) => {
        const pods = options.pods ?? (options.podsFile === undefined ? 2 : 0);
        const state = await labUp({ ...options, pods }, say(options.name));
        say(options.name)(
          `ready: ${state.nodes.length} nodes, ${state.pods.length} pods; ` +
            `\`strata lab status --name ${state.name}\`, \`strata lab exec --name ${state.name} <pod> -- <cmd>\``,
        );
      },
    );

  labCommand(lab, 'exec', "run a command in a pod's network namespace (nsenter --net)")
    .argument('<pod>', 'the pod, as `lab status` names it (n1p1)')
    .argument('<command...>', 'the command and its arguments (after --)')
    .passThroughOptions()
    .action(async (pod: string, command: string[], options: LabOptions) => {
      process.exitCode = await labExec({ ...options, pod, command });
    });

  labCommand(lab, 'status', 'nodes, agents (alive, applied position) and pods of the lab')
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json'])
        .default('table'),
    )
    .action(async (options: LabOptions & { output: OutputFormat }) => {
      print(options, await labStatus(options), statusTables);
    });

  labCommand(lab, 'wait', 'wait until every agent applied the log up to its head; print it')
    .addOption(
      new Option('--timeout <seconds>', 'give up (NotConverged) after this long')
        .argParser(integer)
        .default(60),
    )
    .action(async (options: LabOptions & { timeout: number }) => {
      console.log(String(await labWait({ ...options, timeoutMs: options.timeout * 1_000 })));
    });

  const pod = lab.command('pod').description("the lab's pods");
  labCommand(pod, 'add', 'add a pod (IPAM address, netns, endpoint); wait until applied')
    .argument('<pod>', 'its name: 1-32 of a-z, 0-9 and inner - (x-a)')
    .requiredOption('--node <node>', 'the node it runs on (n1)', parseNonEmpty)
    .option(
      '--namespace <ns>',
      'its Kubernetes-style namespace (labels strata.io/namespace, ns.strata.io/*)',
    )
    .option('--labels <k=v,...>', 'its labels', (value) => parseLabelArgument(value).set, {})
    .option(
      '--named-ports <name=PROTO/port,...>',
      'its named ports (serve-80-tcp=TCP/80)',
      parseNamedPortsArgument,
      [],
    )
    .action(
      async (
        name: string,
        options: LabOptions & {
          node: string;
          namespace?: string;
          labels: Record<string, string>;
          namedPorts: ReturnType<typeof parseNamedPortsArgument>;
        },
      ) => {
        await labPodAdd(
          {
            ...options,
            pod: {
              name,
              node: options.node,
              ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
              labels: options.labels,
              namedPorts: options.namedPorts,
            },
          },
          say(options.name),
        );
      },
    );
  labCommand(pod, 'label', "set (k=v) and remove (k-) a pod's labels; wait until applied")
    .argument('<pod>', 'the pod')
    .argument('<labels>', 'k=v,k2=v2,k3-')
    .action(async (name: string, labels: string, options: LabOptions) => {
      await labPodLabel(
        { ...options, pod: name, change: parseLabelArgument(labels, true) },
        say(options.name),
      );
    });
  labCommand(pod, 'delete', 'delete a pod: its endpoint, then (once applied) its namespace and IP')
    .argument('<pod>', 'the pod, as `lab status` names it (n1p1)')
    .action(async (name: string, options: LabOptions) => {
      const head = await labPodDelete({ ...options, pod: name }, say(options.name));
      say(options.name)(`pod ${name} deleted; every agent applied the log up to ${head}`);
    });

  const namespace = lab.command('namespace').description("the lab's Kubernetes-style namespaces");
  labCommand(
    namespace,
    'label',
    "set (k=v) and remove (k-) a namespace's labels: every pod in it is relabelled; wait until applied",
  )
    .argument('<namespace>', 'the namespace')
    .argument('<labels>', 'k=v,k2=v2,k3-')
    .action(async (name: string, labels: string, options: LabOptions) => {
      await labNamespaceLabel(
        { ...options, namespace: name, change: parseLabelArgument(labels, true) },
        say(options.name),
      );
    });

  const agent = lab.command('agent').description("the lab's node agents");
  labCommand(agent, 'restart', "restart a node's agent as `lab up` started it; wait until applied")
    .argument('<node>', 'the node (n1)')
    .action(async (node: string, options: LabOptions) => {
      await labAgentRestart({ ...options, node }, say(options.name));
    });

  labCommand(lab, 'down', 'stop the agents and the server, delete the namespaces and pins').action(
    async (options: LabOptions) => {
      const removed = await labDown(options, say(options.name));
      say(options.name)(removed === 0 ? 'nothing left to remove' : 'down');
    },
  );
}

function labCommand(lab: Command, name: string, description: string): Command {
  return lab
    .command(name)
    .description(description)
    .option('--name <name>', 'the lab (1-16 of a-z, 0-9 and inner -)', parseNonEmpty, 'lab')
    .option(
      '--data-dir <dir>',
      'where lab-<name>/ (state, logs, the server data) lives',
      parseNonEmpty,
      process.env.STRATA_DATA_DIR ?? DEFAULT_DATA_DIR,
    );
}

function say(name: string): (line: string) => void {
  return (line) => console.log(`strata lab ${name}: ${line}`);
}

function integer(value: string): number {
  if (!/^[0-9]{1,3}$/.test(value)) throw new InvalidArgumentError('an integer');
  return Number(value);
}
