import { expect } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import {
  CommandClient,
  connectAs,
  generateCredentials,
  loadCredentials,
  NatsServerProcess,
  type CommandReply,
  type CommandSpec,
  type ServiceName,
  type StrataService,
  type StrataServiceOptions,
} from '@strata/bus';
import { SqliteEventStore } from '@strata/eventstore';

/**
 * One Strata service over a real nats-server with the generated authorization block (the
 * service connects as its own identity, the tests as `admin`) and a real SQLite file: what the
 * discovery, policy and analytics integration tests talk to. `ok`, `code` and `rawCode` are the
 * calls every such test makes.
 */
export interface ServiceHarness {
  readonly nats: NatsServerProcess;
  readonly dir: string;
  readonly store: SqliteEventStore;
  readonly service: StrataService;
  /** Connected as `admin`. */
  readonly connection: NatsConnection;
  readonly client: CommandClient;
  /** The data of a call that must succeed. */
  ok<Request, Reply>(
    spec: CommandSpec<Request, Reply>,
    data: Request,
    commandId?: string,
  ): Promise<Reply>;
  /** The error code of a call that must fail (with a non-empty message). */
  code<Request, Reply>(spec: CommandSpec<Request, Reply>, data: unknown): Promise<string>;
  /** Sends raw text to a subject; the error code of the reply. */
  rawCode(subject: string, payload: string): Promise<string>;
  close(): Promise<void>;
}

type StartService = (
  options: Pick<StrataServiceOptions, 'natsUrl' | 'store' | 'credentials' | 'logger'>,
) => Promise<StrataService>;

export async function startServiceHarness(
  name: ServiceName,
  start: StartService,
): Promise<ServiceHarness> {
  const dir = await mkdtemp(join(tmpdir(), `strata-${name}-`));
  const credentialsDir = join(dir, 'credentials');
  const credentials = await generateCredentials(credentialsDir);
  const nats = await NatsServerProcess.start({ config: credentials.authConfig });
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const service = await start({
    natsUrl: nats.url,
    store,
    credentials: await loadCredentials(credentialsDir, name),
    logger: false,
  });
  const connection = await connectAs('admin', { dir: credentialsDir, servers: nats.url });
  const client = new CommandClient(connection, { actor: 'user:test', timeoutMs: 5_000 });
  return {
    nats,
    dir,
    store,
    service,
    connection,
    client,
    ok: (spec, data, commandId) => okCall(client, spec, data, commandId),
    code: async (spec, data) => errorCode(await client.call(spec, data as never)),
    rawCode: async (subject, payload) => errorCode(await client.raw(subject, payload)),
    async close() {
      await connection.close();
      await service.close();
      await store.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function okCall<Request, Reply>(
  client: CommandClient,
  spec: CommandSpec<Request, Reply>,
  data: Request,
  commandId?: string,
): Promise<Reply> {
  const reply = await client.call(spec, data, { commandId });
  if (!reply.ok) {
    throw new Error(`${spec.subject} failed: ${reply.error.code}: ${reply.error.message}`);
  }
  return reply.data;
}

export function errorCode(reply: unknown): string {
  const typed = reply as CommandReply<unknown>;
  if (typed.ok !== false) throw new Error(`expected an error reply, got ${JSON.stringify(reply)}`);
  expect(typed.error.message.length).toBeGreaterThan(0);
  return typed.error.code;
}
