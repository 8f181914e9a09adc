import { connect, type NatsConnection } from 'nats';
import {
  loadHttpToken,
  CommandClient,
  createStrataService,
  DEFAULT_VIP_POOL,
  type StrataService,
  type StrataServiceOptions,
} from '@strata/bus';
import { ConfigModule } from './config.module';
import { startHttpApi, type HttpApi, type HttpApiOptions } from './http/http-api';
import {
  NodeLiveness,
  nodeLivenessSettings,
  type NodeLivenessSettings,
} from './node-liveness/node-liveness';
import { NodeLivenessWatchdog } from './node-liveness/node-liveness.watchdog';
import { Clock } from './shared/clock';
import { IpamClient } from './shared/ipam-client';
import { ConfigStartError } from './shared/start-error';

export { ConfigStartError } from './shared/start-error';

export const CONFIG_SERVICE = 'config';

export interface ConfigServiceOptions extends Omit<
  StrataServiceOptions,
  'name' | 'module' | 'queue'
> {
  /** The REST API; its logger defaults to the service's. */
  readonly http: Omit<HttpApiOptions, 'logger'>;
  /** The IPAM vip pool of services whose request names none. Default `vips`. */
  readonly defaultVipPool?: string;
  /** How long one call to IPAM may take. Default 5 s. */
  readonly ipamTimeoutMs?: number;
  /**
   * Heartbeat resolution and the liveness watchdog (timeout, check interval); what is left out
   * takes DEFAULT_NODE_LIVENESS. A timeout of 0 turns the watchdog off.
   */
  readonly liveness?: Partial<NodeLivenessSettings>;
  /** The service's clock, ms since the Unix epoch (tests move it). Default: the system clock. */
  readonly clock?: () => number;
}

export interface ConfigService {
  /** The NATS side: handlers in the `config` queue group. */
  readonly service: StrataService;
  readonly http: HttpApi;
  /** The REST API's base URL, `http://host:port`. */
  readonly url: string;
  /** This replica's node liveness watchdog (running unless the timeout is 0). */
  readonly liveness: NodeLivenessWatchdog;
  /**
   * Stops the watchdog, the HTTP API, then the NATS service, then the connection it calls IPAM
   * on. Closing again waits for the first close.
   */
  close(): Promise<void>;
}

/**
 * Starts the config service: its command handlers on NATS (queue group `config`) and the same
 * handlers behind the REST API, over `store`, and its node liveness watchdog. It calls IPAM
 * over NATS on its own connection, with the same identity as its handlers (the `config`
 * identity may send IPAM commands). Bad liveness settings are a ConfigStartError
 * (InvalidArgument) before anything connects.
 */
export async function startConfigService(options: ConfigServiceOptions): Promise<ConfigService> {
  const {
    http: httpOptions,
    defaultVipPool,
    ipamTimeoutMs,
    liveness: livenessOptions,
    clock: readClock,
    ...serviceOptions
  } = options;
  const clock = new Clock(readClock);
  const liveness = new NodeLiveness(nodeLivenessSettings(livenessOptions), clock);
  const connection = await connectClient(options);
  let service: StrataService | undefined;
  try {
    const ipam = new IpamClient(
      new CommandClient(connection, { timeoutMs: ipamTimeoutMs ?? 5_000 }),
      defaultVipPool ?? DEFAULT_VIP_POOL,
    );
    service = await createStrataService({
      ...serviceOptions,
      name: CONFIG_SERVICE,
      module: ConfigModule.forRoot({ ipam, clock, liveness }),
      queue: CONFIG_SERVICE,
    });
    const nats = service;
    const http = await startHttpApi((token) => nats.app.get(token as never), {
      ...httpOptions,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const watchdog = nats.app.get(NodeLivenessWatchdog);
    // The transport's status replays its last value ('connected' once listening), then changes.
    const watching = nats.app.status.subscribe((status) => {
      watchdog.connectionChanged(status === 'connected');
    });
    watchdog.start();
    let closing: Promise<void> | undefined;
    return {
      service: nats,
      http,
      url: http.url,
      liveness: watchdog,
      close() {
        closing ??= (async () => {
          await watchdog.stop();
          watching.unsubscribe();
          await http.close();
          await nats.close();
          await connection.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await service?.close();
    await connection.close();
    throw error;
  }
}

function connectClient(options: ConfigServiceOptions): Promise<NatsConnection> {
  return connect({
    servers: typeof options.natsUrl === 'string' ? options.natsUrl : [...options.natsUrl],
    name: `strata-${CONFIG_SERVICE}-client`,
    maxReconnectAttempts: -1,
    ...(options.credentials === undefined
      ? {}
      : {
          authenticator: options.credentials.authenticator,
          inboxPrefix: options.credentials.inboxPrefix,
        }),
  });
}

/**
 * The REST API's bearer token: `<credentialsDir>/http-token`, or without credentials
 * $STRATA_HTTP_TOKEN (never a flag, where `ps` would show it). There is no API without one.
 */
export async function resolveHttpToken(credentialsDir: string | undefined): Promise<string> {
  if (credentialsDir !== undefined) {
    return loadHttpToken(credentialsDir);
  }
  const token = process.env.STRATA_HTTP_TOKEN;
  if (token === undefined || token.length < 16) {
    throw new ConfigStartError(
      'the REST API needs a token: --credentials <dir>, or STRATA_HTTP_TOKEN of 16+ characters',
    );
  }
  return token;
}
