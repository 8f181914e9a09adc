import { agentIdentity, loadCredentials, RemoteLog } from '@strata/bus';
import { assertDnsSubdomain, assertHostIpv4, parseMac } from '@strata/domain';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { CheckpointFile } from '../../../agent/src/checkpoint-file';
import { MemoryDataplane, type DataplaneOperations } from '../../../agent/src/dataplane';
import { NodeAgent } from '../../../agent/src/agent';
import { BPF_MODES, BpfDataplane, type BpfMode } from '../../../agent/src/bpf';
import { CliError, natsConnectError } from '../errors';
import { parseNatsUrls, parseNonEmpty, parsePort } from '../flags';
import { runUntilSignalled } from '../server/lifecycle';
import type { Component } from '../server/runtime';

export interface AgentCommandOptions {
  readonly node: string;
  readonly vtepAddress: string;
  readonly vtepMac: string;
  readonly nats: string[];
  readonly credentials?: string;
  readonly stateDir: string;
  readonly dataplane: DataplaneKind;
  /** BPF dataplane only: the node's network namespace (default the agent's own). */
  readonly netns?: string;
  /** BPF dataplane only (default ul0). */
  readonly underlayInterface?: string;
  /** BPF dataplane only (default /sys/fs/bpf/strata/<node>). */
  readonly pinDir?: string;
  /** BPF dataplane only (default tc). */
  readonly mode?: BpfMode;
  /** BPF dataplane only (default the underlay MTU - 50, else 1450). */
  readonly podMtu?: number;
  readonly healthPort: number;
  readonly heartbeatMs: number;
  readonly resyncMs: number;
  readonly checkpointMs: number;
}

export const DEFAULT_AGENT_HEALTH_PORT = 7071;
export const DATAPLANE_KINDS = ['memory', 'bpf'] as const;
export type DataplaneKind = (typeof DATAPLANE_KINDS)[number];
export const DEFAULT_UNDERLAY_INTERFACE = 'ul0';
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/strata';
/** The flags that only the BPF dataplane takes, by option name. */
const BPF_ONLY_FLAGS = {
  netns: '--netns',
  underlayInterface: '--underlay-interface',
  pinDir: '--pin-dir',
  mode: '--mode',
  podMtu: '--pod-mtu',
} as const satisfies Partial<Record<keyof AgentCommandOptions, string>>;

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(
      'run the node agent: register the node, follow the log from its checkpoint, program the dataplane',
    )
    .requiredOption(
      '--node <name>',
      'this node’s name (a DNS subdomain)',
      parseWith(assertDnsSubdomain),
    )
    .requiredOption(
      '--vtep-address <ipv4>',
      'this node’s VTEP (underlay) address',
      parseWith(assertHostIpv4),
    )
    .requiredOption('--vtep-mac <mac>', 'this node’s VTEP MAC address', parseWith(parseMac))
    .requiredOption('--nats <urls>', 'NATS server URL(s), comma-separated', parseNatsUrls)
    .option(
      '--credentials <dir>',
      'credentials directory (connects as agent-<node>); none on an open NATS server',
      parseNonEmpty,
    )
    .option(
      '--state-dir <dir>',
      'where the agent keeps its checkpoint',
      parseNonEmpty,
      '.strata/agent',
    )
    .addOption(
      new Option('--dataplane <kind>', 'what the agent programs: memory (tests) or bpf')
        .choices(DATAPLANE_KINDS)
        .default('memory'),
    )
    .option(
      '--netns <path>',
      'bpf: the node’s network namespace, e.g. /run/netns/node-1 (default: the agent’s own)',
      parseNetnsPath,
    )
    .option(
      '--underlay-interface <name>',
      `bpf: the underlay interface in the node’s namespace (default ${DEFAULT_UNDERLAY_INTERFACE})`,
      parseInterfaceName,
    )
    .option(
      '--pin-dir <dir>',
      `bpf: where the maps are pinned, on bpffs (default ${DEFAULT_PIN_ROOT}/<node>)`,
      parsePinDir,
    )
    .addOption(
      new Option('--mode <mode>', 'bpf: attach mode (default tc; xdp for small packets)').choices(
        BPF_MODES,
      ),
    )
    .option(
      '--pod-mtu <bytes>',
      'bpf: every pod’s MTU (default: the underlay MTU - 50, or 1450 when unknown)',
      parsePodMtu,
    )
    .addOption(
      new Option('--health-port <port>', '/healthz, /readyz and /metrics on 127.0.0.1 (0: any)')
        .argParser(parsePort)
        .default(DEFAULT_AGENT_HEALTH_PORT),
    )
    .addOption(durationOption('--heartbeat-ms <ms>', 'heartbeat interval', 1_000))
    .addOption(
      durationOption('--resync-ms <ms>', 're-read the dataplane this often (0: never)', 30_000),
    )
    .addOption(durationOption('--checkpoint-ms <ms>', 'checkpoint at most this often', 5_000))
    .action(async (options: AgentCommandOptions) => {
      checkDataplaneFlags(options);
      process.exit(await runAgent(options));
    });
}

/** `strata agent`: runs until a signal, then stops cleanly (a last checkpoint). */
export async function runAgent(options: AgentCommandOptions): Promise<number> {
  const log = (line: string) => console.log(`strata agent ${options.node}: ${line}`);
  const stateDir = resolve(options.stateDir);
  let agent: NodeAgent | undefined;
  let bpf: BpfDataplane | undefined;
  return runUntilSignalled({
    healthPort: options.healthPort,
    log,
    metrics: () => agent?.metrics() ?? '',
    async start(runtime) {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      let dataplane: DataplaneOperations;
      if (options.dataplane === 'bpf') {
        bpf = await openBpfDataplane(options, log);
        dataplane = bpf;
      } else {
        dataplane = new MemoryDataplane();
      }
      let nc: NatsConnection;
      try {
        nc = await connectAgent(options);
      } catch (error) {
        await dataplane.close(); // pins and attachments stay: forwarding goes on
        throw error;
      }
      agent = await runtime
        .add(async () => {
          const started = await NodeAgent.start({
            nc,
            node: options.node,
            vtepAddress: options.vtepAddress,
            vtepMac: options.vtepMac,
            log: new RemoteLog({ nc }),
            dataplane,
            checkpoint: new CheckpointFile(join(stateDir, `${options.node}.checkpoint.json`)),
            heartbeatIntervalMs: options.heartbeatMs,
            resyncIntervalMs: options.resyncMs,
            checkpointIntervalMs: options.checkpointMs,
            onWarning: (error) => log(`warning: ${error.message}`),
          });
          return agentComponent(started, nc, dataplane);
        })
        .then((component) => component.agent);
    },
    onReady(health) {
      log(
        `ready pid=${process.pid} resumed from position ${agent?.statusReport().resumedFrom ?? 0}`,
      );
      log(`health ${health.url}/readyz, metrics ${health.url}/metrics`);
    },
  });
}

function agentComponent(
  agent: NodeAgent,
  nc: NatsConnection,
  dataplane: DataplaneOperations,
): Component & { readonly agent: NodeAgent } {
  return {
    name: 'agent',
    agent,
    status: () => {
      const status = agent.statusReport();
      return {
        ready: status.registered && !nc.isClosed(),
        detail:
          `${status.registered ? 'registered' : 'registering'}, ` +
          `folded ${status.position}, applied ${status.appliedPosition}, ` +
          `${status.tables.local} local / ${status.tables.remote} remote endpoints`,
      };
    },
    async stop() {
      await agent.stop();
      await dataplane.close();
      await nc.drain();
    },
  };
}

/** The memory dataplane takes none of the BPF flags: say so rather than ignore them. */
export function checkDataplaneFlags(options: AgentCommandOptions): void {
  if (options.dataplane === 'bpf') return;
  const given = Object.entries(BPF_ONLY_FLAGS).flatMap(([name, flag]) =>
    options[name as keyof typeof BPF_ONLY_FLAGS] === undefined ? [] : [flag],
  );
  if (given.length > 0) {
    throw new CliError(
      'InvalidArgument',
      `${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only to --dataplane bpf ` +
        `(this agent runs --dataplane ${options.dataplane})`,
    );
  }
}

async function openBpfDataplane(
  options: AgentCommandOptions,
  log: (line: string) => void,
): Promise<BpfDataplane> {
  const pinDir = options.pinDir ?? join(DEFAULT_PIN_ROOT, options.node);
  try {
    const dataplane = await BpfDataplane.open({
      vtepAddress: options.vtepAddress,
      vtepMac: options.vtepMac,
      underlayInterface: options.underlayInterface ?? DEFAULT_UNDERLAY_INTERFACE,
      netns: options.netns,
      pinDir,
      mode: options.mode ?? 'tc',
      podMtu: options.podMtu,
      onWarning: (error) => log(`warning: ${error.message}`),
    });
    const { config } = dataplane;
    log(
      `bpf dataplane: ${config.mode} on ${config.underlayInterface} (ifindex ` +
        `${config.underlayIfindex}) in ${config.netns ?? 'the agent’s namespace'}, ` +
        `maps under ${config.pinDir}, pod MTU ${config.podMtu}`,
    );
    return dataplane;
  } catch (error) {
    throw new CliError('DataplaneUnavailable', (error as Error).message, { cause: error });
  }
}

async function connectAgent(options: AgentCommandOptions): Promise<NatsConnection> {
  const identity = agentIdentity(options.node);
  const credentials =
    options.credentials === undefined
      ? undefined
      : await loadCredentials(resolve(options.credentials), identity);
  try {
    return await connect({
      servers: options.nats,
      name: `strata-${identity}`,
      maxReconnectAttempts: -1,
      ...(credentials === undefined
        ? {}
        : { authenticator: credentials.authenticator, inboxPrefix: credentials.inboxPrefix }),
    });
  } catch (error) {
    throw natsConnectError(
      error,
      options.nats.join(','),
      options.credentials === undefined
        ? undefined
        : `the ${identity} credentials in ${options.credentials}`,
      options.credentials === undefined
        ? 'pass --credentials <dir>'
        : `were they generated for node ${options.node} (strata server --nodes)?`,
    );
  }
}

function parseWith<T>(parse: (value: string, what: string) => T) {
  return (value: string): T => {
    try {
      return parse(value, 'value');
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function parseNetnsPath(value: string): string {
  if (!isAbsolute(value)) {
    throw new InvalidArgumentError('a namespace path like /run/netns/node-1');
  }
  return value;
}

/** Linux interface names: 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
function parseInterfaceName(value: string): string {
  if (!/^[^\s/:]{1,15}$/.test(value) || value === '.' || value === '..') {
    throw new InvalidArgumentError('an interface name: 1-15 characters without /, : or spaces');
  }
  return value;
}

function parsePinDir(value: string): string {
  if (!isAbsolute(value)) {
    throw new InvalidArgumentError('an absolute path on bpffs, like /sys/fs/bpf/strata/node-1');
  }
  return value;
}

function parsePodMtu(value: string): number {
  const mtu = Number(value);
  if (!/^[0-9]{1,5}$/.test(value) || mtu < 68 || mtu > 65_485) {
    throw new InvalidArgumentError('an MTU in bytes, 68-65485');
  }
  return mtu;
}

function durationOption(flags: string, description: string, defaultMs: number): Option {
  return new Option(flags, description)
    .argParser((value: string) => {
      const ms = Number(value);
      if (!/^[0-9]{1,9}$/.test(value)) {
        throw new InvalidArgumentError('a duration in milliseconds, 0-999999999');
      }
      return ms;
    })
    .default(defaultMs);
}
