import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { CommandClient, NatsServerProcess, type StrataService } from '@strata/bus';
import { SqliteEventStore } from '@strata/eventstore';
import { startIpamService } from '../../services/ipam/src/ipam-service';

/**
 * A real nats-server, a real SQLite file in a temp dir, the IPAM service running in this
 * process, and a client connection: what the IPAM integration tests talk to.
 */
export interface IpamHarness {
  readonly nats: NatsServerProcess;
  readonly dir: string;
  readonly storePath: string;
  readonly store: SqliteEventStore;
  readonly service: StrataService;
  readonly connection: NatsConnection;
  readonly client: CommandClient;
  close(): Promise<void>;
}

export async function startIpamHarness(): Promise<IpamHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-ipam-'));
  const storePath = join(dir, 'events.db');
  const nats = await NatsServerProcess.start();
  const store = new SqliteEventStore({ path: storePath });
  const service = await startIpamService({ natsUrl: nats.url, store, logger: false });
  const connection = await connect({ servers: nats.url });
  const client = new CommandClient(connection, { actor: 'user:test', timeoutMs: 5_000 });
  return {
    nats,
    dir,
    storePath,
    store,
    service,
    connection,
    client,
    async close() {
      await connection.close();
      await service.close();
      await store.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
