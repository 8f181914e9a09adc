import {
  agentSubject,
  ANALYTICS,
  CONFIG,
  encodeJson,
  loadCredentials,
  type CommandReply,
  type EventPropagation,
  type NodePropagation,
} from '@strata/bus';
import type { RecordedEvent } from '@strata/eventstore';
import { startAnalyticsService } from '../../services/analytics/src/analytics-service';
import type { PropagationTracker } from '../../services/analytics/src/propagation/propagation-tracker';
import {
  createPod,
  createSegment,
  startAgentHarness,
  type AgentHarness,
  type StartedAgent,
} from '../support/agent-harness';

/**
 * Propagation tracing end to end: a real control plane (nats-server with its authorization,
 * SQLite log, config, IPAM, relay, log server), the analytics service as its own identity, and
 * three in-process agents reporting what they applied. Waits are on signals: the tracker's
 * `waitApplied` (a node's report covering a position has been taken in); queries catch up with
 * the log themselves, so nothing is polled and nothing sleeps.
 */

const NODES = ['node-1', 'node-2', 'node-3'];
/** Small, so the test can push an event out of the window. */
const WINDOW = 64;

describe('propagation tracing', () => {
  let h: AgentHarness;
  let tracker: PropagationTracker;
  const agents = new Map<string, StartedAgent>();
  let podA: RecordedEvent;

  beforeAll(async () => {
    h = await startAgentHarness(NODES, { analytics: { window: WINDOW } });
    tracker = h.analytics!.propagation;
    for (const node of NODES) agents.set(node, await h.startAgent(node));
    await createSegment(h.client, 'blue', '10.1.0.0/16');
  }, 60_000);

  afterAll(() => h?.close());

  /** The EndpointCreated of pod `uid`, as the store recorded it. */
  const created = async (uid: string): Promise<RecordedEvent> => {
    const events = await h.store.readStream(`endpoint-${uid}`);
    const event = events.find((e) => e.type === 'EndpointCreated');
    if (event === undefined) throw new Error(`no EndpointCreated for ${uid}`);
    return event;
  };
  /** Resolves once the tracker holds a report of each of `nodes` covering `position`. */
  const reported = (position: number, nodes: readonly string[]) =>
    Promise.all(nodes.map((node) => tracker.waitApplied(node, position)));
  const propagation = (eventId: string) =>
    h.client.execute(ANALYTICS.propagation, { eventId }) as Promise<EventPropagation>;
  const errorOf = async (data: unknown): Promise<{ code: string; message: string }> => {
    const reply = (await h.client.call(
      ANALYTICS.propagation,
      data as never,
    )) as CommandReply<unknown>;
    if (reply.ok) throw new Error(`expected an error, got ${JSON.stringify(reply.data)}`);
    return reply.error;
  };
  const statuses = (rows: readonly NodePropagation[]) => rows.map((r) => [r.node, r.status]);
  const expectApplied = (result: EventPropagation, row: NodePropagation | undefined) => {
    if (row?.status !== 'applied') throw new Error(`not applied: ${JSON.stringify(row)}`);
    expect(row.afterMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(row.appliedAt)).toBeGreaterThanOrEqual(Date.parse(result.recordedAt));
  };

  it('lists every node as applied, with when and how long after the event was recorded', async () => {
    await createPod(h.client, 'pod-a', 'blue', 'node-1', '10.1.1.1');
    podA = await created('pod-a');
    await reported(podA.position, NODES);

    const result = await propagation(podA.id);
    expect(result).toMatchObject({
      eventId: podA.id,
      type: 'EndpointCreated',
      stream: 'endpoint-pod-a',
      position: podA.position,
      recordedAt: podA.recordedAt.toISOString(),
    });
    expect(statuses(result.nodes)).toEqual(NODES.map((node) => [node, 'applied']));
    for (const row of result.nodes) expectApplied(result, row);
    const { summary } = result;
    expect(summary).toMatchObject({ applied: 3, pending: 0, down: 0 });
    expect(summary.p50Ms!).toBeLessThanOrEqual(summary.p99Ms!);
    expect(summary.p99Ms!).toBeLessThanOrEqual(summary.maxMs!);
    const slowest = Math.max(
      ...result.nodes.map((row) => (row.status === 'applied' ? row.afterMs : 0)),
    );
    expect(summary.maxMs).toBe(slowest);
  });

  it('shows a node whose agent stopped as pending, then as down once it is marked down', async () => {
    await agents.get('node-3')!.stop();
    agents.delete('node-3');
    await createPod(h.client, 'pod-b', 'blue', 'node-1', '10.1.1.2');
    const podB = await created('pod-b');
    await reported(podB.position, ['node-1', 'node-2']);

    const pending = await propagation(podB.id);
    expect(statuses(pending.nodes)).toEqual([
      ['node-1', 'applied'],
      ['node-2', 'applied'],
      ['node-3', 'pending'],
    ]);
    expect(pending.summary).toMatchObject({ applied: 2, pending: 1, down: 0 });

    const future = new Date(Date.now() + 3_600_000).toISOString();
    await h.client.execute(CONFIG.markNodeDown, { name: 'node-3', timeoutMs: 60_000, now: future });
    const down = await propagation(podB.id);
    expect(statuses(down.nodes)).toContainEqual(['node-3', 'down']);
    expect(down.summary).toMatchObject({ applied: 2, pending: 0, down: 1 });
    // What node-3 applied before it stopped still counts as applied.
    expect((await propagation(podA.id)).summary).toMatchObject({ applied: 3, down: 0 });
  });

  it('summarises the last events of the log, oldest first, each and together', async () => {
    const podB = await created('pod-b');
    const tail = await h.client.execute(ANALYTICS.recentPropagation, { last: 3 });
    const recent = await h.client.execute(ANALYTICS.recentPropagation, { last: 20 });
    const positions = recent.events.map((e) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(positions).size).toBe(positions.length);
    expect(recent.summary.events).toBe(positions.length);
    // The last 3 are the newest 3 of the log when asked (a heartbeat may have landed since).
    const tailPositions = tail.events.map((e) => e.position);
    expect(tailPositions).toHaveLength(3);
    expect(positions.filter((p) => p <= tailPositions[2]).slice(-3)).toEqual(tailPositions);
    const line = recent.events.find((e) => e.eventId === podB.id);
    expect(line).toMatchObject({ type: 'EndpointCreated', summary: { applied: 2, down: 1 } });
    const pairs = recent.events.reduce(
      (sum, e) => sum + e.summary.applied + e.summary.pending + e.summary.down,
      0,
    );
    expect(recent.summary.applied + recent.summary.pending + recent.summary.down).toBe(pairs);
  });

  it('answers an unknown id with NotFound, and a malformed request with a typed error', async () => {
    expect(await errorOf({ eventId: 'f'.repeat(64) })).toMatchObject({ code: 'NotFound' });
    expect((await errorOf({ eventId: 'has space' })).code).toBe('InvalidRequest');
    expect((await errorOf({ eventId: '' })).code).toBe('InvalidRequest');
    expect((await errorOf({ eventId: podA.id, extra: 1 })).code).toBe('UnknownField');
    const recent = await h.client.call(ANALYTICS.recentPropagation, { last: 0 });
    expect(!recent.ok && recent.error.code).toBe('InvalidRequest');
  });

  it('drops malformed and forged reports, counting them, and keeps tracking', async () => {
    const { connection } = agents.get('node-1')!;
    const subject = agentSubject('node-1', 'applied');
    const before = tracker.stats.malformed;
    connection.publish(subject, Buffer.from('not json'));
    connection.publish(subject, encodeJson({ node: 'node-1', seq: -1, points: [] }));
    connection.publish(subject, encodeJson({ node: 'node-1', seq: 1, points: [[5]] }));
    // node-1 may only publish on its own subject; a report there naming node-2 is a forgery.
    connection.publish(subject, encodeJson({ node: 'node-2', seq: 1, points: [[1e12, 0]] }));

    await createPod(h.client, 'pod-c', 'blue', 'node-2', '10.1.2.1');
    const podC = await created('pod-c');
    // node-1's own report of pod-c leaves on the same connection after the bad ones, so once
    // it is in, they have been handled.
    await reported(podC.position, ['node-1', 'node-2']);
    expect(tracker.stats.malformed - before).toBe(4);

    const result = await propagation(podC.id);
    expect(statuses(result.nodes).slice(0, 2)).toEqual([
      ['node-1', 'applied'],
      ['node-2', 'applied'],
    ]);
    for (const row of result.nodes.slice(0, 2)) expectApplied(result, row);
  });

  it('answers NotTracked for an event that left the window, and for one before a replica started', async () => {
    // A replica started now has not seen pod-a's reports: it must not guess.
    const late = await startAnalyticsService({
      natsUrl: h.nats.url,
      store: h.store,
      logger: false,
      credentials: await loadCredentials(h.credentialsDir, 'analytics'),
    });
    try {
      await expect(late.propagation.get(podA.id)).rejects.toMatchObject({
        code: 'NotTracked',
        message: expect.stringMatching(/before this analytics replica began/),
      });
    } finally {
      await late.close();
    }

    for (let i = 1; (await h.head()) - podA.position < WINDOW; i++) {
      await createPod(h.client, `pod-fill-${i}`, 'blue', 'node-1', `10.1.3.${i}`);
    }
    const old = await errorOf({ eventId: podA.id });
    expect(old).toMatchObject({ code: 'NotTracked' });
    expect(old.message).toMatch(/older than the last 64 events/);
    expect((await errorOf({ eventId: 'e'.repeat(64) })).code).toBe('NotFound');
  });
});
