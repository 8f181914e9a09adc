import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import {
  CommandClient,
  connectAs,
  generateCredentials,
  IPAM,
  loadCredentials,
  loadHttpToken,
  NatsServerProcess,
  type StrataService,
} from '@strata/bus';
import { SqliteEventStore } from '@strata/eventstore';
import {
  startConfigService,
  type ConfigService,
  type ConfigServiceOptions,
} from '../../services/config/src/config-service';
import { startIpamService } from '../../services/ipam/src/ipam-service';
import type { IdentitySettings } from '../../services/policy/src/identity-release/identity-settings';
import { startPolicyService } from '../../services/policy/src/policy-service';

/**
 * What the config integration tests talk to: a real nats-server with the generated
 * authorization block (every process connects as its own identity), a real SQLite file, the
 * IPAM, policy and config services running in this process (config calls IPAM over NATS for
 * VNIs and VIPs, and policy for endpoint identities), an admin client on NATS, and the REST
 * API's URL and token. IPAM starts with a `vips`
 * pool (10.96.0.0/24), the default pool of service VIPs.
 *
 * The config replicas' node liveness watchdog is off unless `options.liveness` turns it on:
 * most tests drive liveness by hand with fixed times, which a watchdog on the wall clock would
 * race.
 */
export interface ConfigHarness {
  readonly nats: NatsServerProcess;
  readonly dir: string;
  readonly credentialsDir: string;
  readonly store: SqliteEventStore;
  /** The IPAM service now running; undefined between `stopIpam()` and `startIpam()`. */
  readonly ipam: StrataService | undefined;
  stopIpam(): Promise<void>;
  startIpam(): Promise<void>;
  /** The policy service now running; undefined between `stopPolicy()` and `startPolicy()`. */
  readonly policy: StrataService | undefined;
  stopPolicy(): Promise<void>;
  startPolicy(): Promise<void>;
  /** The first config replica. */
  readonly config: ConfigService;
  /**
   * One more config replica on the same NATS and store (same identity, in the same queue
   * group), with the harness's settings unless `overrides` changes them; closed with the harness.
   */
  startConfigReplica(overrides?: ConfigReplicaOptions): Promise<ConfigService>;
  /** Connected as `admin`. */
  readonly connection: NatsConnection;
  readonly client: CommandClient;
  /** The REST API's base URL. */
  readonly url: string;
  readonly token: string;
  close(): Promise<void>;
}

export const VIP_POOL_CIDR = '10.96.0.0/24';

/** What may differ between the harness's config replicas. */
export type ConfigReplicaOptions = Pick<ConfigServiceOptions, 'liveness' | 'clock'>;

/** The policy service's identity settings (release grace, highest identity). */
export interface ConfigHarnessOptions {
  readonly identities?: Partial<IdentitySettings>;
}

export async function startConfigHarness(
  options: ConfigReplicaOptions = {},
  { identities }: ConfigHarnessOptions = {},
): Promise<ConfigHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-config-'));
  const credentialsDir = join(dir, 'credentials');
  const credentials = await generateCredentials(credentialsDir, { nodes: ['node-1'] });
  const nats = await NatsServerProcess.start({ config: credentials.authConfig });
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const ipamCredentials = await loadCredentials(credentialsDir, 'ipam');
  const startIpam = () =>
    startIpamService({ natsUrl: nats.url, store, credentials: ipamCredentials, logger: false });
  let ipam: StrataService | undefined = await startIpam();
  const policyCredentials = await loadCredentials(credentialsDir, 'policy');
  const startPolicy = () =>
    startPolicyService({
      natsUrl: nats.url,
      store,
      credentials: policyCredentials,
      logger: false,
      ...(identities === undefined ? {} : { identities }),
    });
  let policy: StrataService | undefined = await startPolicy();
  const token = await loadHttpToken(credentialsDir);
  const configCredentials = await loadCredentials(credentialsDir, 'config');
  const replicas: ConfigService[] = [];
  const startConfigReplica = async (overrides: ConfigReplicaOptions = {}) => {
    const replica = await startConfigService({
      natsUrl: nats.url,
      store,
      credentials: configCredentials,
      http: { port: 0, token },
      logger: false,
      liveness: { timeoutMs: 0 },
      ...options,
      ...overrides,
    });
    replicas.push(replica);
    return replica;
  };
  const config = await startConfigReplica();
  const connection = await connectAs('admin', { dir: credentialsDir, servers: nats.url });
  const client = new CommandClient(connection, { actor: 'user:test', timeoutMs: 5_000 });
  await client.execute(IPAM.createPool, { poolId: 'vips', kind: 'vip', cidr: VIP_POOL_CIDR });
  return {
    nats,
    dir,
    credentialsDir,
    store,
    get ipam() {
      return ipam;
    },
    async stopIpam() {
      await ipam?.close();
      ipam = undefined;
    },
    async startIpam() {
      ipam ??= await startIpam();
    },
    get policy() {
      return policy;
    },
    async stopPolicy() {
      await policy?.close();
      policy = undefined;
    },
    async startPolicy() {
      policy ??= await startPolicy();
    },
    config,
    startConfigReplica,
    connection,
    client,
    url: config.url,
    token,
    async close() {
      await connection.close();
      // Closing a replica again (a test closed it) waits for its first close.
      for (const replica of replicas) await replica.close();
      await ipam?.close();
      await policy?.close();
      await store.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
