import { RELAY } from '@strata/bus';
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { CliError } from '../errors';
import {
  nodeLivenessFromFlags,
  nodeLivenessOptions,
  type NodeLivenessFlags,
} from '../../../config/src/node-liveness/liveness-flags';
import { parseNatsUrls, parseNonEmpty, parsePort } from '../flags';
import {
  SERVICE_ENTRIES,
  openStoreComponent,
  startRelayComponent,
  startServiceComponent,
  DEFAULT_HTTP_PORT,
} from './components';
import { DEFAULT_HEALTH_PORT } from './health';
import { runUntilSignalled } from './lifecycle';

export interface ServiceOptions extends NodeLivenessFlags {
  readonly nats: string[];
  readonly store: string;
  readonly credentials?: string;
  readonly healthPort: number;
  readonly httpPort: number;
}

/** What `strata service` can run: every service, and the relay (one per deployment is active). */
export function runnableNames(): string[] {
  return [...SERVICE_ENTRIES.map((entry) => entry.name), RELAY];
}

export function registerServiceCommand(program: Command): void {
  const command = program
    .command('service')
    .description(
      `run one service alone (${runnableNames().join(', ')}): replicas of a service share its load`,
    )
    .argument('<name>', `one of ${runnableNames().join(', ')}`)
    .requiredOption('--nats <urls>', 'NATS server URL(s), comma-separated', parseNatsUrls)
    .requiredOption('--store <path>', 'SQLite event store file', parseNonEmpty)
    .option(
      '--credentials <dir>',
      'credentials directory (connects as the service identity); none on an open NATS server',
      parseNonEmpty,
    )
    .addOption(
      new Option('--health-port <port>', 'port of /healthz and /readyz on 127.0.0.1 (0: any)')
        .argParser(parsePort)
        .default(DEFAULT_HEALTH_PORT),
    )
    .addOption(
      new Option('--http-port <port>', 'port of the REST API (config) on 127.0.0.1 (0: any)')
        .argParser(parsePort)
        .default(DEFAULT_HTTP_PORT),
    );
  // Config's node liveness watchdog, as `strata server` and config's own main take them.
  for (const option of nodeLivenessOptions()) command.addOption(option);
  command.action(async (name: string, options: ServiceOptions) => {
    process.exit(await runService(name, options));
  });
}

/** `strata service <name>`: the store, then the one service. Resolves with the exit code. */
export async function runService(name: string, options: ServiceOptions): Promise<number> {
  const entry = SERVICE_ENTRIES.find((candidate) => candidate.name === name);
  if (entry === undefined && name !== RELAY) {
    throw new CliError(
      'UnknownService',
      `no service named ${JSON.stringify(name)}; one of ${runnableNames().join(', ')}`,
    );
  }
  // Checked together (the timeout above the resolution) before anything starts.
  const liveness = nodeLivenessFromFlags(options);
  const storePath = resolve(options.store);
  const credentialsDir =
    options.credentials === undefined ? undefined : resolve(options.credentials);
  const log = (line: string) => console.log(`strata service ${name}: ${line}`);
  return runUntilSignalled({
    healthPort: options.healthPort,
    log,
    async start(runtime) {
      const { store } = await runtime.add(async () => openStoreComponent(storePath));
      const wiring = {
        natsUrl: options.nats,
        store,
        credentialsDir,
        httpPort: options.httpPort,
        liveness,
      };
      await runtime.add(() =>
        entry === undefined
          ? startRelayComponent({ ...wiring, log })
          : startServiceComponent(entry, wiring),
      );
    },
    onReady(health) {
      log(`ready pid=${process.pid} nats=${options.nats.join(',')} store=${storePath}`);
      log(`health ${health.url}/readyz`);
    },
  });
}
