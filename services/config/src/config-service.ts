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
import { IpamClient } from './shared/ipam-client';

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
}

export interface ConfigService {
  /** The NATS side: handlers in the `config` queue group. */
  readonly service: StrataService;
  readonly http: HttpApi;
  /** The REST API's base URL, `http://host:port`. */
  readonly url: string;
  /** Stops the HTTP API, then the NATS service, then the connection it calls IPAM on. */
  close(): Promise<void>;
}

/**
 * Starts the config service: its command handlers on NATS (queue group `config`) and the same
 * handlers behind the REST API, over `store`. It calls IPAM over NATS on its own connection,
 * with the same identity as its handlers (the `config` identity may send IPAM commands).
 */
export async function startConfigService(options: ConfigServiceOptions): Promise<ConfigService> {
  const { http: httpOptions, defaultVipPool, ipamTimeoutMs, ...serviceOptions } = options;
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
      module: ConfigModule.forRoot(ipam),
      queue: CONFIG_SERVICE,
    });
    const nats = service;
    const http = await startHttpApi((token) => nats.app.get(token as never), {
      ...httpOptions,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    return {
      service: nats,
      http,
      url: http.url,
      async close() {
        await http.close();
        await nats.close();
        await connection.close();
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

/** Why the config service cannot start, with a code the command line prints. */
export class ConfigStartError extends Error {
  readonly code = 'MissingToken';
}
