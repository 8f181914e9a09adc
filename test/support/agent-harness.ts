import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import {
  agentIdentity,
  CommandClient,
  CONFIG,
  connectAs,
  generateCredentials,
  IPAM,
  loadCredentials,
  loadHttpToken,
  LogServer,
  NatsServerProcess,
  Relay,
  RemoteLog,
  type StrataService,
} from '@strata/bus';
import { SqliteEventStore, type RecordedEvent } from '@strata/eventstore';
import { applyEvents, createForwardingState, digest } from '@strata/forwarding';
import { startConfigService, type ConfigService } from '../../services/config/src/config-service';
import { startIpamService } from '../../services/ipam/src/ipam-service';
import { startPolicyService } from '../../services/policy/src/policy-service';
import {
  startAnalyticsService,
  type AnalyticsService,
} from '../../services/analytics/src/analytics-service';
import type { PropagationSettings } from '../../services/analytics/src/propagation/propagation-settings';
import { NodeAgent, type NodeAgentOptions } from '../../services/agent/src/agent';
import { MemoryDataplane } from '../../services/agent/src/dataplane';

/**
 * A control plane for agent tests, all real: nats-server with the generated authorization
 * block, a SQLite log, the IPAM and config services, the relay (publishing the log on
 * `strata.ev.>`) and its log server (answering `strata.log.read`), each connected as its own
 * identity. Agents connect as `agent-<node>` and read the log over NATS only, as on a real node.
 */
export interface AgentHarness {
  readonly dir: string;
  readonly nats: NatsServerProcess;
  readonly credentialsDir: string;
  readonly store: SqliteEventStore;
  readonly admin: NatsConnection;
  readonly client: CommandClient;
  /** The analytics service, when the harness was asked for it. */
  readonly analytics: AnalyticsService | undefined;
  /** Starts an in-process agent for `node` (VTEP 192.168.100.<n>) on a memory dataplane. */
  startAgent(node: string, options?: Partial<NodeAgentOptions>): Promise<StartedAgent>;
  /** The log's last position. */
  head(): Promise<number>;
  /** The digest of a fold of the whole log, from scratch, for `node`. */
  foldDigest(node: string): Promise<string>;
  close(): Promise<void>;
}

export interface StartedAgent {
  readonly agent: NodeAgent;
  readonly dataplane: MemoryDataplane;
  readonly connection: NatsConnection;
  stop(): Promise<void>;
}

export interface AgentHarnessOptions {
  /** Also start the analytics service (before anything is appended), with these settings. */
  readonly analytics?: Partial<PropagationSettings>;
}

export async function startAgentHarness(
  nodes: readonly string[],
  { analytics: analyticsSettings }: AgentHarnessOptions = {},
): Promise<AgentHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-agent-'));
  const credentialsDir = join(dir, 'credentials');
  const credentials = await generateCredentials(credentialsDir, { nodes: [...nodes] });
  const nats = await NatsServerProcess.start({ config: credentials.authConfig, jetstream: true });
  const store = new SqliteEventStore({ path: join(dir, 'events.db'), pollIntervalMs: 10 });
  const ipam: StrataService = await startIpamService({
    natsUrl: nats.url,
    store,
    credentials: await loadCredentials(credentialsDir, 'ipam'),
    logger: false,
  });
  // Config acquires each endpoint's identity from the policy service.
  const policy: StrataService = await startPolicyService({
    natsUrl: nats.url,
    store,
    credentials: await loadCredentials(credentialsDir, 'policy'),
    logger: false,
  });
  const config: ConfigService = await startConfigService({
    natsUrl: nats.url,
    store,
    credentials: await loadCredentials(credentialsDir, 'config'),
    http: { port: 0, token: await loadHttpToken(credentialsDir) },
    // Tests mark nodes down themselves; a watchdog on the real clock would race them.
    liveness: { timeoutMs: 0 },
    logger: false,
  });
  const analytics =
    analyticsSettings === undefined
      ? undefined
      : await startAnalyticsService({
          natsUrl: nats.url,
          store,
          credentials: await loadCredentials(credentialsDir, 'analytics'),
          propagation: analyticsSettings,
          logger: false,
        });
  const relayConnection = await connectAs('relay', { dir: credentialsDir, servers: nats.url });
  const relay = await Relay.start({
    store,
    nc: relayConnection,
    heartbeatIntervalMs: 100,
  });
  const logServer = await LogServer.start({ nc: relayConnection, store });
  const admin = await connectAs('admin', { dir: credentialsDir, servers: nats.url });
  const client = new CommandClient(admin, { actor: 'user:test', timeoutMs: 10_000 });
  await client.execute(IPAM.createPool, { poolId: 'vips', kind: 'vip', cidr: '10.96.0.0/24' });
  const agents = new Set<StartedAgent>();

  return {
    dir,
    nats,
    credentialsDir,
    store,
    admin,
    client,
    analytics,
    async startAgent(node, options = {}) {
      const connection = await connectAs(agentIdentity(node), {
        dir: credentialsDir,
        servers: nats.url,
      });
      const dataplane = new MemoryDataplane();
      const index = nodes.indexOf(node) + 1;
      const agent = await NodeAgent.start({
        nc: connection,
        node,
        vtepAddress: `192.168.100.${index}`,
        vtepMac: `02:00:00:00:64:${index.toString(16).padStart(2, '0')}`,
        log: new RemoteLog({ nc: connection }),
        dataplane,
        heartbeatIntervalMs: 200,
        reportIntervalMs: 20,
        ...options,
      });
      if (options.register !== false) await agent.registeredOnce;
      const started: StartedAgent = {
        agent,
        dataplane,
        connection,
        async stop() {
          agents.delete(started);
          await agent.stop();
          await connection.close();
        },
      };
      agents.add(started);
      return started;
    },
    head: () => store.headPosition(),
    async foldDigest(node) {
      const events: RecordedEvent[] = [];
      for await (const event of store.readAll()) events.push(event);
      return digest(applyEvents(createForwardingState(node), events));
    },
    async close() {
      for (const agent of [...agents]) await agent.stop();
      await admin.close();
      await logServer.close();
      await relay.stop();
      await relayConnection.close();
      await analytics?.close();
      await config.close();
      await policy.close();
      await ipam.close();
      await store.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates segment `segmentId` (its VNI picked by IPAM) over `cidr`. */
export async function createSegment(
  client: CommandClient,
  segmentId: string,
  cidr: string,
): Promise<number> {
  const segment = await client.execute(CONFIG.createSegment, {
    segmentId,
    name: segmentId,
    subnets: [cidr],
  });
  return segment.vni;
}

/** Creates pod `uid` with `ip` (MAC 0a:58:<ip>, as Kubernetes' bridge plugin) on `node`. */
export async function createPod(
  client: CommandClient,
  uid: string,
  segmentId: string,
  node: string,
  ip: string,
): Promise<void> {
  const mac = `0a:58:${ip
    .split('.')
    .map((octet) => Number(octet).toString(16).padStart(2, '0'))
    .join(':')}`;
  await client.execute(CONFIG.createEndpoint, { uid, kind: 'pod', segmentId, node, ip, mac });
}
