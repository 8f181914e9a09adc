import {
  ADMIN,
  agentSubject,
  CommandClient,
  CredentialsError,
  loadCredentials,
  type AgentStatus,
  type CommandSpec,
  type IdentityCredentials,
} from '@strata/bus';
import { connect, type NatsConnection } from 'nats';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError, natsConnectError } from '../errors';
import { CREDENTIALS_SUBDIR, readServerInfo, serverFilePath } from '../server/server-file';
import type { TargetOptions } from './options';

const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * One CLI invocation's connection to Strata: finds the NATS server (`--nats`, else the running
 * server's `<data-dir>/server.json`), connects as the `admin` identity from
 * `<data-dir>/credentials` and calls services with the command protocol. An error reply
 * becomes a CliError with the service's code, so it prints as `strata: <Code>: <message>`.
 */
export class Session {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly client: CommandClient,
  ) {}

  static async open(options: TargetOptions): Promise<Session> {
    const dataDir = resolve(options.dataDir);
    const natsUrl = options.nats ?? (await natsUrlOfRunningServer(dataDir));
    const credentialsDir = join(dataDir, CREDENTIALS_SUBDIR);
    const credentials = await adminCredentials(credentialsDir, options.nats !== undefined);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: natsUrl,
        name: 'strata-cli',
        timeout: CONNECT_TIMEOUT_MS,
        maxReconnectAttempts: 0,
        ...(credentials === undefined
          ? {}
          : { authenticator: credentials.authenticator, inboxPrefix: credentials.inboxPrefix }),
      });
    } catch (error) {
      throw natsConnectError(
        error,
        natsUrl.join(','),
        credentials === undefined ? undefined : `the admin credentials in ${credentialsDir}`,
        options.nats === undefined
          ? 'is server.json stale? `strata status` tells'
          : "pass the server's --data-dir",
      );
    }
    return new Session(
      nc,
      new CommandClient(nc, { actor: actor(), timeoutMs: REQUEST_TIMEOUT_MS }),
    );
  }

  /** The reply's data; a CliError carrying the service's code for an error reply. */
  async execute<Request, Reply>(spec: CommandSpec<Request, Reply>, data: Request): Promise<Reply> {
    const reply = await this.client.call(spec, data);
    if (!reply.ok) throw new CliError(reply.error.code, reply.error.message);
    return reply.data;
  }

  /**
   * The status the agent of `node` reports (`strata.agent.<node>.status`), or undefined when
   * it does not answer within `timeoutMs` (or answers with an error).
   */
  async agentStatus(node: string, timeoutMs: number): Promise<AgentStatus | undefined> {
    try {
      const reply = (await this.client.raw(agentSubject(node, 'status'), '', { timeoutMs })) as {
        ok?: unknown;
        data?: unknown;
      };
      return reply?.ok === true ? (reply.data as AgentStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

/** Opens a session, runs `work` with it, and closes it whatever happens. */
export async function withSession<T>(
  options: TargetOptions,
  work: (session: Session) => Promise<T>,
): Promise<T> {
  const session = await Session.open(options);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

async function natsUrlOfRunningServer(dataDir: string): Promise<string[]> {
  const info = await readServerInfo(dataDir);
  if (info === undefined) {
    throw new CliError(
      'NotRunning',
      `no strata server found (${serverFilePath(dataDir)} is missing): start one with \`strata server --data-dir ${dataDir}\`, or pass --nats <url>`,
    );
  }
  return info.natsUrl.split(',');
}

/**
 * The admin identity. With an explicit `--nats` and no credentials in the data dir, none: the
 * server may be an open one (a server that wants credentials then refuses, and says so).
 */
async function adminCredentials(
  dir: string,
  mayBeOpen: boolean,
): Promise<IdentityCredentials | undefined> {
  try {
    return await loadCredentials(dir, ADMIN);
  } catch (error) {
    if (mayBeOpen && error instanceof CredentialsError && error.code === 'Missing') {
      return undefined;
    }
    throw error;
  }
}

/** Who the events this CLI causes are attributed to. */
function actor(): string {
  try {
    return `user:${userInfo().username}`;
  } catch {
    return 'user:unknown';
  }
}
