import { agentIdentity, loadCredentials, RemoteLog } from '@strata/bus';
import { assertDnsSubdomain, assertHostIpv4, parseMac } from '@strata/domain';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { CheckpointFile } from '../../../agent/src/checkpoint-file';
import { MemoryDataplane, type DataplaneOperations } from '../../../agent/src/dataplane';
import { NodeAgent } from '../../../agent/src/agent';
import { natsConnectError } from '../errors';
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
  readonly dataplane: 'memory';
  readonly healthPort: number;
  readonly heartbeatMs: number;
  readonly resyncMs: number;
  readonly checkpointMs: number;
}

export const DEFAULT_AGENT_HEALTH_PORT = 7071;

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
      new Option('--dataplane <kind>', 'what the agent programs')
        .choices(['memory'])
        .default('memory'),
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
      process.exit(await runAgent(options));
    });
}

/** `strata agent`: runs until a signal, then stops cleanly (a last checkpoint). */
export async function runAgent(options: AgentCommandOptions): Promise<number> {
  const log = (line: string) => console.log(`strata agent ${options.node}: ${line}`);
  const stateDir = resolve(options.stateDir);
  let agent: NodeAgent | undefined;
  return runUntilSignalled({
    healthPort: options.healthPort,
    log,
    metrics: () => agent?.metrics() ?? '',
    async start(runtime) {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      const nc = await connectAgent(options);
      const dataplane: DataplaneOperations = new MemoryDataplane();
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
