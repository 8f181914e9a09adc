import { agentIdentity, generateCredentials } from '@strata/bus';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
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
  startNatsComponent,
  startRelayComponent,
  startServiceComponent,
  DEFAULT_HTTP_PORT,
} from './components';
import { DEFAULT_HEALTH_PORT } from './health';
import { runUntilSignalled } from './lifecycle';
import {
  CREDENTIALS_SUBDIR,
  DEFAULT_DATA_DIR,
  NATS_SUBDIR,
  STORE_FILE,
  readServerInfo,
  removeServerInfo,
  serverFilePath,
  writeServerInfo,
} from './server-file';

export interface ServerOptions extends NodeLivenessFlags {
  readonly dataDir: string;
  /** A NATS server to use instead of starting one. */
  readonly nats?: string[];
  readonly healthPort: number;
  readonly httpPort: number;
  /** Nodes whose agents get credentials (`agent-<node>`), beside any generated before. */
  readonly nodes?: string[];
}

export function registerServerCommand(program: Command): void {
  const command = program
    .command('server')
    .description(
      'run every service and the relay in one process, with an embedded event store and (unless --nats) a local nats-server',
    )
    .option(
      '--data-dir <dir>',
      'where the event log, credentials, NATS files and server.json live',
      parseNonEmpty,
      process.env.STRATA_DATA_DIR ?? DEFAULT_DATA_DIR,
    )
    .option(
      '--nats <urls>',
      'use this NATS server (comma-separated URLs) instead of starting one; it must load <data-dir>/credentials/nats-auth.conf',
      parseNatsUrls,
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
    )
    .option(
      '--nodes <names>',
      'create agent credentials (agent-<node>) for these nodes, comma-separated',
      parseNodeNames,
    );
  // Config's node liveness watchdog: --node-timeout-ms (0: off), --heartbeat-resolution-ms,
  // --liveness-check-ms, as the config service's own main takes them.
  for (const option of nodeLivenessOptions()) command.addOption(option);
  command.action(async (options: ServerOptions) => {
    process.exit(await runServer(options));
  });
}

/** `strata server`: see the command's description. Resolves with the exit code. */
export async function runServer(options: ServerOptions): Promise<number> {
  // Checked together (the timeout above the resolution) before anything starts.
  const liveness = nodeLivenessFromFlags(options);
  const dataDir = resolve(options.dataDir);
  const log = (line: string) => console.log(`strata server: ${line}`);
  return runUntilSignalled({
    healthPort: options.healthPort,
    log,
    async start(runtime, health) {
      // The event log and NATS's files are the network's history: owner only, like the keys.
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      await refuseIfRunning(dataDir);
      // Secure by default: every process gets its own identity; only what is missing is made.
      const credentials = await generateCredentials(join(dataDir, CREDENTIALS_SUBDIR), {
        nodes: options.nodes ?? [],
      });
      let natsUrl = options.nats;
      let natsPid: number | null = null;
      if (natsUrl === undefined) {
        const nats = await runtime.add(() =>
          startNatsComponent({
            storeDir: join(dataDir, NATS_SUBDIR),
            authConfig: credentials.authConfig,
          }),
        );
        natsUrl = [nats.server.url];
        natsPid = nats.server.pid ?? null;
      }
      const storePath = join(dataDir, STORE_FILE);
      const { store } = await runtime.add(async () => openStoreComponent(storePath));
      const wiring = {
        natsUrl,
        store,
        credentialsDir: credentials.dir,
        httpPort: options.httpPort,
        liveness,
      };
      // The relay before the services, so it stops after them and publishes their last events.
      await runtime.add(() => startRelayComponent({ ...wiring, log }));
      for (const entry of SERVICE_ENTRIES) {
        await runtime.add(() => startServiceComponent(entry, wiring));
      }
      await writeServerInfo(dataDir, {
        pid: process.pid,
        natsUrl: natsUrl.join(','),
        natsPid,
        healthUrl: health.url,
        dataDir,
        credentialsDir: credentials.dir,
        storePath,
        services: SERVICE_ENTRIES.map((entry) => entry.name),
        startedAt: new Date().toISOString(),
      });
    },
    onReady(health) {
      log(`ready pid=${process.pid}`);
      log(`data dir   ${dataDir}`);
      log(`health     ${health.url}/readyz`);
      log(`services   ${SERVICE_ENTRIES.map((entry) => entry.name).join(', ')}, relay`);
      log(`CLI finds it through ${serverFilePath(dataDir)}`);
    },
    afterStop: async () => {
      await removeServerInfo(dataDir, process.pid);
      log('stopped');
    },
  });
}

/** A live server on the same data dir would share its log and NATS files: refuse to start. */
async function refuseIfRunning(dataDir: string): Promise<void> {
  const info = await readServerInfo(dataDir).catch(() => undefined);
  if (info === undefined || info.pid === process.pid || !isAlive(info.pid)) return;
  const answering = await fetch(`${info.healthUrl}/healthz`, { signal: AbortSignal.timeout(1_000) })
    .then((response) => response.ok)
    .catch(() => false);
  if (answering) {
    throw new CliError(
      'AlreadyRunning',
      `a strata server (pid ${info.pid}) already runs on ${dataDir}; stop it first`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `a,b,c`: node names (DNS subdomains), each once. */
function parseNodeNames(value: string): string[] {
  const nodes = [...new Set(value.split(',').map((node) => node.trim()))];
  for (const node of nodes) {
    try {
      agentIdentity(node);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  }
  return nodes;
}
