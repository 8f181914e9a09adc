import {
  NatsServerProcess,
  RELAY,
  LogServer,
  Relay,
  loadCredentials,
  type IdentityCredentials,
  type ServiceName,
  type StrataService,
} from '@strata/bus';
import { SqliteEventStore, type EventStore } from '@strata/eventstore';
import type { LogLevel } from '@nestjs/common';
import { connect, DebugEvents, Events, type NatsConnection } from 'nats';
import { startIpamService } from '../../../ipam/src/ipam-service';
import { resolveHttpToken, startConfigService } from '../../../config/src/config-service';
import type { NodeLivenessSettings } from '../../../config/src/node-liveness/node-liveness';
import { startDiscoveryService } from '../../../discovery/src/discovery-service';
import { startPolicyService } from '../../../policy/src/policy-service';
import { startAnalyticsService } from '../../../analytics/src/analytics-service';
import { natsConnectError } from '../errors';
import type { Component, ComponentStatus } from './runtime';

/** What every service is started with. */
export interface ServiceContext {
  readonly natsUrl: readonly string[];
  readonly store: EventStore;
  /** The service's own NATS identity; undefined on an open NATS server. */
  readonly credentials: IdentityCredentials | undefined;
  readonly credentialsDir: string | undefined;
  /** Port of the REST API of the services that serve one (config); 0 picks a free one. */
  readonly httpPort: number;
  /** Config's heartbeat resolution and node liveness watchdog (the --node-timeout-ms flags). */
  readonly liveness: NodeLivenessSettings;
}

/** Default port of the config service's REST API (on 127.0.0.1). */
export const DEFAULT_HTTP_PORT = 7080;

export interface ServiceEntry {
  readonly name: ServiceName;
  readonly start: (context: ServiceContext) => Promise<StrataService>;
}

// Services log their errors and warnings; the CLI prints its own lifecycle lines.
const NEST_LOG: LogLevel[] = ['error', 'warn'];

/**
 * THE list of services: `strata server` runs every one of them, in this order, and
 * `strata service <name>` runs one. A service joins by adding its entry here, and nothing else
 * (each entry's `start` maps the context onto that service's own start function).
 */
export const SERVICE_ENTRIES: readonly ServiceEntry[] = [
  { name: 'ipam', start: (context) => startIpamService({ ...context, logger: NEST_LOG }) },
  {
    name: 'config',
    start: async (context) => {
      const config = await startConfigService({
        ...context,
        logger: NEST_LOG,
        http: { port: context.httpPort, token: await resolveHttpToken(context.credentialsDir) },
        liveness: context.liveness,
      });
      // The REST API stops with the service: closing it closes both.
      return { ...config.service, close: () => config.close() };
    },
  },
  {
    name: 'discovery',
    start: (context) => startDiscoveryService({ ...context, logger: NEST_LOG }),
  },
  { name: 'policy', start: (context) => startPolicyService({ ...context, logger: NEST_LOG }) },
  {
    name: 'analytics',
    start: (context) => startAnalyticsService({ ...context, logger: NEST_LOG }),
  },
];

/** A service of SERVICE_ENTRIES, connected with its own identity when `credentialsDir` is set. */
export async function startServiceComponent(
  entry: ServiceEntry,
  options: {
    natsUrl: readonly string[];
    store: EventStore;
    credentialsDir: string | undefined;
    httpPort: number;
    liveness: NodeLivenessSettings;
  },
): Promise<Component> {
  const credentials =
    options.credentialsDir === undefined
      ? undefined
      : await loadCredentials(options.credentialsDir, entry.name);
  let service: StrataService;
  try {
    service = await entry.start({ ...options, credentials });
  } catch (error) {
    throw connectError(error, entry.name, options);
  }
  // Resolved means subscribed; from then on the transport reports every change of connection.
  let connection = 'connected';
  const watching = service.app.status.subscribe((status) => {
    connection = status;
  });
  return {
    name: entry.name,
    status: () =>
      connection === 'connected'
        ? { ready: true, detail: 'subscribed' }
        : { ready: false, detail: `NATS ${connection}` },
    async stop() {
      // Unsubscribes, lets requests in progress reply, then closes the connection.
      await service.close();
      watching.unsubscribe();
    },
  };
}

/** The relay (store -> NATS), connected as the `relay` identity when `credentialsDir` is set. */
export async function startRelayComponent(options: {
  natsUrl: readonly string[];
  store: EventStore;
  credentialsDir: string | undefined;
  log: (line: string) => void;
}): Promise<Component> {
  const credentials =
    options.credentialsDir === undefined
      ? undefined
      : await loadCredentials(options.credentialsDir, RELAY);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: [...options.natsUrl],
      name: `strata-${RELAY}`,
      maxReconnectAttempts: -1,
      ...(credentials === undefined
        ? {}
        : { authenticator: credentials.authenticator, inboxPrefix: credentials.inboxPrefix }),
    });
  } catch (error) {
    throw connectError(error, RELAY, options);
  }
  const connection = watchConnection(nc);
  let relay: Relay;
  let logServer: LogServer;
  try {
    relay = await Relay.start({
      store: options.store,
      nc,
      onError: (error) => options.log(`relay: ${error.message}`),
    });
    // Every relay, leader or standby, answers log reads: agents catch up through them.
    logServer = await LogServer.start({
      nc,
      store: options.store,
      onWarning: (error) => options.log(`log reads: ${error.message}`),
    });
  } catch (error) {
    await nc.close();
    throw error;
  }
  return {
    name: RELAY,
    status: (): ComponentStatus => {
      const problem = connection();
      if (problem !== undefined) return { ready: false, detail: problem };
      // A standby is healthy: another relay holds the lease and publishes.
      const ready = relay.state === 'leading' || relay.state === 'standby';
      const { seq, position } = relay.lastPublished;
      return {
        ready,
        detail:
          relay.state === 'leading'
            ? `leading (published seq ${seq}, position ${position})`
            : relay.state,
      };
    },
    async stop() {
      // Saves the checkpoint and releases the lease, so a standby takes over at once.
      await logServer.close();
      await relay.stop();
      await nc.drain();
    },
  };
}

/** The embedded SQLite event store; ready while it answers a read of its head. */
export function openStoreComponent(path: string): Component & { readonly store: SqliteEventStore } {
  const store = new SqliteEventStore({ path });
  return {
    name: 'store',
    store,
    status: async () => ({
      ready: true,
      detail: `sqlite ${path}, head at position ${await store.headPosition()}`,
    }),
    stop: () => store.close(),
  };
}

/**
 * A local nats-server: JetStream on (the relay keeps its lease and checkpoint in KV) with its
 * files in `storeDir`, and `authConfig` as its authorization block. It runs in its own process
 * group, so a Ctrl-C reaches only `strata server`, which stops it last.
 */
export async function startNatsComponent(options: {
  storeDir: string;
  authConfig: string;
}): Promise<Component & { readonly server: NatsServerProcess }> {
  const server = await NatsServerProcess.start({
    name: 'strata',
    jetstream: true,
    storeDir: options.storeDir,
    config: options.authConfig,
    detached: true,
  });
  return {
    name: 'nats-server',
    server,
    status: () =>
      server.running
        ? { ready: true, detail: `pid ${server.pid} at ${server.url}` }
        : { ready: false, detail: `exited:\n${server.recentLog()}` },
    stop: () => server.stop(),
  };
}

function connectError(
  error: unknown,
  identity: string,
  options: { natsUrl: readonly string[]; credentialsDir: string | undefined },
): unknown {
  return natsConnectError(
    error,
    options.natsUrl.join(','),
    options.credentialsDir === undefined
      ? undefined
      : `the ${identity} credentials in ${options.credentialsDir}`,
    options.credentialsDir === undefined
      ? 'pass --credentials <dir>'
      : 'is it the directory whose nats-auth.conf that server loads?',
  );
}

/** Follows a connection's state: undefined while connected, else what it is doing. */
function watchConnection(nc: NatsConnection): () => string | undefined {
  let problem: string | undefined;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === Events.Disconnect) problem = 'NATS disconnected';
      else if (status.type === DebugEvents.Reconnecting) problem = 'NATS reconnecting';
      else if (status.type === Events.Reconnect) problem = undefined;
    }
  })();
  void nc.closed().then(() => {
    problem = 'NATS connection closed';
  });
  return () => problem;
}
