import {
  agentSubject,
  ALL_AGENT_APPLIED_SUBJECT,
  appliedReport,
  CONFIG,
  decodeBody,
  LOG_READ_SUBJECT,
  type AgentStatus,
  type AppliedReport,
  type CommandReply,
} from '@strata/bus';
import { digest } from '@strata/forwarding';
import {
  createPod,
  createSegment,
  startAgentHarness,
  type AgentHarness,
  type StartedAgent,
} from '../support/agent-harness';
import { Signal } from '../support/relay-harness';

/**
 * Node agents against a real control plane: nats-server, SQLite log, config and IPAM, relay and
 * log server; each agent on its own connection as `agent-<node>`, reading the log over NATS only.
 * Waits are on signals (an applied position, a registration), never on time.
 */

const NODES = ['node-1', 'node-2', 'node-3'];
// Waits are on signals; this bounds them on a loaded machine.
jest.setTimeout(30_000);

describe('node agent', () => {
  let h: AgentHarness;
  let agents: Map<string, StartedAgent>;
  const reports: AppliedReport[] = [];
  const reported = new Signal();

  beforeAll(async () => {
    h = await startAgentHarness(NODES);
    const subscription = h.admin.subscribe(ALL_AGENT_APPLIED_SUBJECT, {
      callback: (_error, msg) => {
        reports.push(appliedReport.parse(decodeBody(msg.data), ''));
        reported.notify();
      },
    });
    void subscription;
    agents = new Map();
    for (const node of NODES) agents.set(node, await h.startAgent(node));
    await createSegment(h.client, 'blue', '10.1.0.0/16');
    for (const [n, node] of NODES.entries()) {
      for (let i = 1; i <= 3; i++) {
        await createPod(h.client, `${node}-pod-${i}`, 'blue', node, `10.1.${n + 1}.${i}`);
      }
    }
  }, 60_000);

  afterAll(() => h?.close());

  const agent = (node: string) => agents.get(node)!.agent;
  const waitAll = async () => {
    const head = await h.head();
    await Promise.all([...agents.values()].map(({ agent }) => agent.waitApplied(head)));
    return head;
  };

  it("programs each node's dataplane with the fold of the whole log", async () => {
    await waitAll();
    for (const node of NODES) {
      const tables = await agents.get(node)!.dataplane.read();
      expect(tables.local.size).toBe(3);
      expect(tables.remote.size).toBe(6);
      expect([...tables.vteps.keys()].sort()).toEqual(NODES.filter((n) => n !== node));
      expect(
        tables.remote.get('10.1.2.1')?.vtepAddress ?? tables.local.get('10.1.2.1')?.mac,
      ).toBeDefined();
      expect(digest(tables)).toBe(await h.foldDigest(node));
    }
    const remote = (await agents.get('node-1')!.dataplane.read()).remote.get('10.1.3.2')!;
    expect(remote).toMatchObject({
      uid: 'node-3-pod-2',
      node: 'node-3',
      vtepAddress: '192.168.100.3',
    });
  });

  it('reports each change as applied, per node, with its time', async () => {
    const head = await waitAll();
    const deadline = (node: string) =>
      reports.some((r) => r.node === node && r.points.some(([position]) => position >= head));
    // Reports are batched every 20 ms here: wait for the batch holding the head.
    await reported.until(
      () => NODES.every(deadline),
      'an applied report of the head from every node',
    );
    for (const report of reports) {
      const positions = report.points.map(([position]) => position);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    }
    const status = await queryStatus('node-2');
    expect(status.appliedPosition).toBeGreaterThanOrEqual(head);
    expect(status.desiredDigest).toBe(status.appliedDigest);
    expect(status.propagation.count).toBeGreaterThan(0);
    expect(status.propagation.maxMs).toBeGreaterThanOrEqual(status.propagation.p50Ms);
    expect(agent('node-2').metrics()).toContain('strata_agent_propagation_seconds_bucket');
  });

  it('removes a deleted pod everywhere and moves a moved one', async () => {
    await h.client.execute(CONFIG.deleteEndpoint, { uid: 'node-2-pod-3' });
    await h.client.execute(CONFIG.moveEndpoint, { uid: 'node-3-pod-1', node: 'node-1' });
    await waitAll();
    const one = await agents.get('node-1')!.dataplane.read();
    expect(one.remote.has('10.1.2.3')).toBe(false);
    expect(one.local.get('10.1.3.1')?.uid).toBe('node-3-pod-1');
    const two = await agents.get('node-2')!.dataplane.read();
    expect(two.local.has('10.1.2.3')).toBe(false);
    expect(two.remote.get('10.1.3.1')?.node).toBe('node-1');
    for (const node of NODES)
      expect(digest(await agents.get(node)!.dataplane.read())).toBe(await h.foldDigest(node));
  });

  it('repairs drift and survives a dataplane that refuses writes', async () => {
    const started = agents.get('node-1')!;
    started.dataplane.tamper((tables) => {
      tables.remote.delete('10.1.2.1');
      tables.remote.set('10.9.9.9', tables.remote.get('10.1.2.2')!);
      tables.vteps.delete('node-3');
    });
    const before = started.agent.statusReport().reconcile.drift;
    await started.agent.resync();
    expect(started.agent.statusReport().reconcile.drift - before).toBe(3);
    expect(digest(await started.dataplane.read())).toBe(await h.foldDigest('node-1'));

    started.dataplane.failNext(2);
    await createPod(h.client, 'node-2-pod-9', 'blue', 'node-2', '10.1.2.9');
    await waitAll();
    expect(started.agent.statusReport().reconcile.failures).toBeGreaterThanOrEqual(1);
    expect((await started.dataplane.read()).remote.get('10.1.2.9')?.uid).toBe('node-2-pod-9');
    expect(digest(await started.dataplane.read())).toBe(await h.foldDigest('node-1'));
  });

  it('drops the VTEP routes of a node marked down, and restores them when it is back', async () => {
    await agents.get('node-3')!.stop(); // no more heartbeats from node-3
    agents.delete('node-3');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await h.client.execute(CONFIG.markNodeDown, { name: 'node-3', timeoutMs: 60_000, now: future });
    await waitAll();
    for (const node of ['node-1', 'node-2']) {
      const tables = await agents.get(node)!.dataplane.read();
      expect([...tables.vteps.keys()]).not.toContain('node-3');
      expect([...tables.remote.values()].filter((e) => e.node === 'node-3')).toEqual([]);
      expect(tables.remote.size).toBeGreaterThan(0);
    }
    // node-3 comes back: registering again brings a down node back (NodeRegistered).
    agents.set('node-3', await h.startAgent('node-3'));
    await waitAll();
    for (const node of ['node-1', 'node-2']) {
      const tables = await agents.get(node)!.dataplane.read();
      expect([...tables.vteps.keys()]).toContain('node-3');
      expect(digest(tables)).toBe(await h.foldDigest(node));
    }
  });

  it('answers log reads with pages and bad requests with typed errors', async () => {
    const read = async (body: string) =>
      decodeBody(
        (await h.admin.request(LOG_READ_SUBJECT, Buffer.from(body))).data,
      ) as CommandReply<{
        events: { position: number }[];
        last: number;
        end: boolean;
      }>;
    const page = await read(JSON.stringify({ after: 0, maxEvents: 3 }));
    expect(page.ok && page.data.events.map((e) => e.position)).toEqual([1, 2, 3]);
    expect(page.ok && page.data).toMatchObject({ last: 3, end: false });
    expect(await read('not json')).toMatchObject({
      ok: false,
      error: { code: 'MalformedPayload' },
    });
    expect(await read('{"after":-1}')).toMatchObject({
      ok: false,
      error: { code: 'InvalidRequest' },
    });
    expect(await read('{"after":0,"x":1}')).toMatchObject({
      ok: false,
      error: { code: 'UnknownField' },
    });
  });

  async function queryStatus(node: string): Promise<AgentStatus> {
    const reply = decodeBody(
      (await h.admin.request(agentSubject(node, 'status'), new Uint8Array(), { timeout: 5_000 }))
        .data,
    ) as CommandReply<AgentStatus>;
    if (!reply.ok) throw new Error(reply.error.message);
    return reply.data;
  }
});
