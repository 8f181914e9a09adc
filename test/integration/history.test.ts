import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  CONFIG,
  HISTORY,
  loadCredentials,
  POLICY,
  readExportSnapshot,
  type CommandClient,
  type ExportPage,
  type ExportRequest,
  type StrataService,
} from '@strata/bus';
import { digest, ForwardingState } from '@strata/forwarding';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSandbox } from '../../services/cli/src/client/sandbox.command';
import { HistoryIndex } from '../../services/analytics/src/history/history-index';
import { startPolicyService } from '../../services/policy/src/policy-service';
import {
  createPod,
  createSegment,
  startAgentHarness,
  type AgentHarness,
} from '../support/agent-harness';

// Time travel through the analytics service, all real: nats-server with the generated
// authorization, a SQLite log, the config, IPAM and analytics services, the admin identity
// asking over `strata.analytics.history.*`. The scenario: pod `web` rescheduled from node b to
// node c, seen from node a; every answer checked field by field against the events.

jest.setTimeout(60_000);

const NODES = ['node-a', 'node-b', 'node-c'];
const vtep = (n: number) => ({ vtepAddress: `192.168.50.${n}`, vtepMac: `02:00:00:00:50:0${n}` });

let harness: AgentHarness;
let policy: StrataService;
let client: CommandClient;
/** Positions: after web and db exist (web on b); after web moved to c. */
let beforeMove: number;
let afterMove: number;
let firstTime: string;

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected the request to fail');
}

/** The node's state at `position` folded from scratch, straight from the store. */
async function foldFromScratch(node: string, position: number): Promise<ForwardingState> {
  const state = new ForwardingState(node);
  for await (const event of harness.store.readAll({ untilPosition: position })) state.apply(event);
  return state;
}

beforeAll(async () => {
  harness = await startAgentHarness(NODES, { analytics: {} });
  policy = await startPolicyService({
    natsUrl: harness.nats.url,
    store: harness.store,
    credentials: await loadCredentials(harness.credentialsDir, 'policy'),
    logger: false,
  });
  client = harness.client;
  for (const [i, name] of NODES.entries()) {
    await client.execute(CONFIG.registerNode, { name, ...vtep(i + 1) });
  }
  await createSegment(client, 'blue', '10.1.0.0/24');
  await createPod(client, 'web', 'blue', 'node-b', '10.1.0.5');
  await createPod(client, 'db', 'blue', 'node-a', '10.1.0.6');
  beforeMove = await harness.head();
  await client.execute(
    CONFIG.moveEndpoint,
    { uid: 'web', node: 'node-c' },
    { correlationId: 'reschedule-web', actor: 'user:scheduler' },
  );
  afterMove = await harness.head();
  // Labels for the verdict scenario: web changes identity (a new tenure in its history).
  await client.execute(CONFIG.relabelEndpoint, { uid: 'web', labels: { app: 'web' } });
  await client.execute(CONFIG.relabelEndpoint, { uid: 'db', labels: { app: 'db' } });
  const [first] = await harness.store.readStream('node-node-a');
  firstTime = first.recordedAt.toISOString();
});

afterAll(async () => {
  await policy?.close();
  await harness?.close();
});

describe('replay', () => {
  it.each([
    ['before the move', () => beforeMove, 'node-b', 2],
    ['after the move', () => afterMove, 'node-c', 3],
  ])(
    '%s: the route to web points at its node, and the digest is the fold from scratch',
    async (_name, at, node, n) => {
      const position = at();
      const result = await client.execute(HISTORY.replay, { node: 'node-a', at: String(position) });
      expect(result.at.position).toBe(position);
      const remote = new Map(result.tables.remote);
      expect(remote.get('10.1.0.5')).toMatchObject({
        uid: 'web',
        node,
        vtepAddress: vtep(n).vtepAddress,
      });
      expect(new Map(result.tables.local).get('10.1.0.6')).toMatchObject({ uid: 'db' });
      expect(result.digest).toBe(digest(await foldFromScratch('node-a', position)));
    },
  );

  it('takes a time: the last event recorded at or before it', async () => {
    const [moved] = (await harness.store.readStream('endpoint-web')).filter(
      (event) => event.type === 'EndpointMoved',
    );
    const result = await client.execute(HISTORY.replay, {
      node: 'node-a',
      at: moved.recordedAt.toISOString(),
    });
    expect(result.at.position).toBeGreaterThanOrEqual(moved.position);
    expect(new Map(result.tables.remote).get('10.1.0.5')).toMatchObject({ node: 'node-c' });
  });

  it.each([
    ['an unknown node', { node: 'node-z', at: '1' }, 'UnknownNode'],
    [
      'a time before the first event',
      { node: 'node-a', at: '2001-01-01T00:00:00.000Z' },
      'BeforeFirstEvent',
    ],
    ['a malformed moment', { node: 'node-a', at: 'yesterday' }, 'InvalidTimestamp'],
    ['a position past the head', { node: 'node-a', at: '999999999' }, 'InvalidArgument'],
    ['a malformed node name', { node: 'Node_A', at: '1' }, 'InvalidName'],
  ])('rejects %s', async (_name, request, code) => {
    expect(await failure(client.execute(HISTORY.replay, request))).toMatchObject({ code });
  });

  it('rejects a node registered only after the moment', async () => {
    const error = await failure(client.execute(HISTORY.replay, { node: 'node-c', at: firstTime }));
    expect(error).toMatchObject({ code: 'UnknownNode' });
  });
});

describe('diff', () => {
  it('lists the moved route, with the move event, its actor and correlation id', async () => {
    const result = await client.execute(HISTORY.diff, {
      node: 'node-a',
      from: String(beforeMove),
      to: String(afterMove),
    });
    expect(result.changes).toHaveLength(1);
    const [change] = result.changes;
    expect([change.table, change.key, change.kind]).toEqual(['remote', '10.1.0.5', 'changed']);
    expect(change.before).toMatchObject({ node: 'node-b', vtepAddress: vtep(2).vtepAddress });
    expect(change.after).toMatchObject({ node: 'node-c', vtepAddress: vtep(3).vtepAddress });
    expect(change.causes).toHaveLength(1);
    expect(change.causes[0]).toMatchObject({
      type: 'EndpointMoved',
      stream: 'endpoint-web',
      actor: 'user:scheduler',
      correlationId: 'reschedule-web',
    });
    expect(result.digestFrom).not.toBe(result.digestTo);
  });

  it('rejects a window that ends before it starts', async () => {
    const error = await failure(
      client.execute(HISTORY.diff, {
        node: 'node-a',
        from: String(afterMove),
        to: String(beforeMove),
      }),
    );
    expect(error).toMatchObject({ code: 'InvalidArgument' });
  });
});

describe('explain route', () => {
  it('gives the entry, its history and the events behind its facts', async () => {
    const result = await client.execute(HISTORY.explainRoute, {
      node: 'node-a',
      ip: '10.1.0.5',
      at: String(afterMove),
    });
    expect(result.entries.map((e) => e.table)).toEqual(['remote']);
    expect(result.entries[0].entry).toMatchObject({ uid: 'web', node: 'node-c' });
    expect(result.history.map((c) => [c.table, c.kind, c.event.type, c.event.actor])).toEqual([
      ['remote', 'added', 'EndpointCreated', 'user:test'],
      ['remote', 'changed', 'EndpointMoved', 'user:scheduler'],
    ]);
    const sources = result.sources.map((e) => `${e.type} ${e.stream}`);
    expect(sources).toEqual(
      expect.arrayContaining([
        'SegmentCreated segment-blue',
        'EndpointCreated endpoint-web',
        'EndpointMoved endpoint-web',
        'NodeRegistered node-node-c',
      ]),
    );
    expect(sources.some((s) => s.startsWith('NodeHeartbeatRecorded'))).toBe(false);
    expect(result.sources.map((e) => e.position)).toEqual(
      [...result.sources.map((e) => e.position)].sort((a, b) => a - b),
    );
  });

  it.each([
    ['a malformed address', { node: 'node-a', ip: '10.1.0.300', at: '1' }, 'InvalidIp'],
    ['an address never routed', { node: 'node-a', ip: '10.9.9.9', at: String(1) }, 'NotFound'],
  ])('rejects %s', async (_name, request, code) => {
    const at = code === 'NotFound' ? String(afterMove) : request.at;
    expect(await failure(client.execute(HISTORY.explainRoute, { ...request, at }))).toMatchObject({
      code,
    });
  });
});

describe('trace', () => {
  it.each([
    ['before the move', () => beforeMove, 'node-b', vtep(2).vtepAddress],
    ['after the move', () => afterMove, 'node-c', vtep(3).vtepAddress],
  ])('%s: encapsulated to the node web was on', async (_name, at, node, address) => {
    const result = await client.execute(HISTORY.trace, {
      from: 'db',
      to: '10.1.0.5',
      protocol: 'TCP',
      port: 80,
      at: String(at()),
    });
    expect([result.outcome, result.sourceNode, result.destinationNode]).toEqual([
      'delivered',
      'node-a',
      node,
    ]);
    const encapsulate = result.steps.find((s) => s.step === 'encapsulate')!;
    expect(encapsulate.detail).toContain(`VTEP ${address}`);
    expect(result.steps.at(-1)).toMatchObject({ step: 'deliver', node, result: 'pass' });
  });

  it('drops a packet to an address nobody has, and says why', async () => {
    const result = await client.execute(HISTORY.trace, {
      from: '10.1.0.6',
      to: '10.1.0.99',
      protocol: 'UDP',
      port: 53,
    });
    expect([result.outcome, result.reason]).toEqual(['dropped', 'no-route']);
  });

  it('rejects a malformed address', async () => {
    const error = await failure(
      client.execute(HISTORY.trace, {
        from: '10.1.0.256',
        to: '10.1.0.5',
        protocol: 'TCP',
        port: 80,
      }),
    );
    expect(error).toMatchObject({ code: 'InvalidIp' });
  });
});

describe('explain verdict', () => {
  // db-in admits web to db on TCP 5432 (revision 0), then a revision turns the rule to deny.
  const rule = (action: 'allow' | 'deny') => ({
    action,
    peers: [{ selector: { matchLabels: { app: 'web' } } }],
    ports: [{ protocol: 'TCP' as const, port: 5432 }],
  });
  let allowed: number;
  let denied: number;

  beforeAll(async () => {
    await client.execute(
      POLICY.createPolicy,
      {
        policyId: 'db-in',
        name: 'db-in',
        tier: 'application',
        priority: 100,
        selector: { matchLabels: { app: 'db' } },
        ingress: [rule('allow')],
      },
      { correlationId: 'open-db', actor: 'user:alice' },
    );
    allowed = await harness.head();
    await client.execute(
      POLICY.updatePolicy,
      { policyId: 'db-in', ingress: [rule('deny')] },
      { correlationId: 'lock-db', actor: 'user:bob' },
    );
    denied = await harness.head();
  });

  const ask = (at: number, port = 5432) =>
    client.execute(HISTORY.explainVerdict, {
      source: 'web',
      destination: '10.1.0.6',
      protocol: 'TCP',
      port,
      at: String(at),
    });

  it.each([
    ['revision 0 allows', () => allowed, 'allow', 0, 'PolicyCreated', 'user:alice', 'open-db'],
    ['revision 1 denies', () => denied, 'deny', 1, 'PolicyUpdated', 'user:bob', 'lock-db'],
  ])(
    '%s, and names the event that wrote it',
    async (_n, at, verdict, revision, type, actor, corr) => {
      const result = await ask(at());
      expect([result.source, result.destination]).toEqual(['10.1.0.5', '10.1.0.6']);
      expect(result.evaluation.verdict).toBe(verdict);
      expect(result.evaluation.ingress).toMatchObject({
        verdict,
        reason: 'rule',
        tier: 'application',
        policyId: 'db-in',
        policyName: 'db-in',
        policyRevision: revision,
        ruleIndex: 0,
        action: verdict,
      });
      expect(result.evaluation.egress).toMatchObject({ verdict: 'allow', reason: 'not-selected' });
      expect(result.ingressPolicyEvent).toMatchObject({
        type,
        stream: 'policy-db-in',
        revision,
        actor,
        correlationId: corr,
      });
      expect(result.egressPolicyEvent).toBeNull();
      expect(result.sourceIdentityEvent).toMatchObject({
        type: 'EndpointLabelsUpdated',
        stream: 'endpoint-web',
      });
    },
  );

  it('isolates another port: the application tier default', async () => {
    const result = await ask(allowed, 22);
    expect(result.evaluation.ingress).toMatchObject({
      verdict: 'deny',
      reason: 'isolated',
      rule: 1,
    });
  });

  it('the trace drops at ingress policy after the revision, on the destination node', async () => {
    const at = (position: number) =>
      client.execute(HISTORY.trace, {
        from: 'web',
        to: 'db',
        protocol: 'TCP',
        port: 5432,
        at: String(position),
      });
    expect((await at(allowed)).outcome).toBe('delivered');
    const after = await at(denied);
    expect([after.outcome, after.reason]).toEqual(['dropped', 'policy-denied']);
    expect(after.steps.at(-1)).toMatchObject({
      step: 'ingress-policy',
      node: 'node-a',
      result: 'drop',
    });
    expect(after.steps.at(-1)!.detail).toContain('policy db-in "db-in" revision 1');
  });

  it('rejects an unknown endpoint', async () => {
    const error = await failure(
      client.execute(HISTORY.explainVerdict, {
        source: 'nobody',
        destination: '10.1.0.6',
        protocol: 'TCP',
        port: 1,
        at: String(afterMove),
      }),
    );
    expect(error).toMatchObject({ code: 'NotFound' });
  });
});

describe('history', () => {
  // web was created on b, moved to c, then relabelled (a new identity).
  it('tells who held an address: web on node-b, on node-c, then under its new identity', async () => {
    const result = await client.execute(HISTORY.holders, { ip: '10.1.0.5' });
    expect(result.tenures.map((t) => [t.uid, t.node, t.from.type, t.until?.type ?? null])).toEqual([
      ['web', 'node-b', 'EndpointCreated', 'EndpointMoved'],
      ['web', 'node-c', 'EndpointMoved', 'EndpointLabelsUpdated'],
      ['web', 'node-c', 'EndpointLabelsUpdated', null],
    ]);
    expect(result.tenures[1].from.correlationId).toBe('reschedule-web');
    const [first, second, third] = result.tenures.map((t) => t.identity);
    expect(second).toBe(first);
    expect(third).not.toBe(first);
  });

  it('tells who held an identity', async () => {
    const { tenures } = await client.execute(HISTORY.holders, { ip: '10.1.0.5' });
    const identity = tenures[2].identity;
    expect(identity).toEqual(expect.any(Number));
    const result = await client.execute(HISTORY.holders, { identity: identity! });
    expect(result.tenures.map((t) => [t.uid, t.ip, t.until])).toEqual([['web', '10.1.0.5', null]]);
  });

  it('asks for exactly one of ip and identity', async () => {
    expect(await failure(client.execute(HISTORY.holders, {}))).toMatchObject({
      code: 'InvalidArgument',
    });
  });
});

describe('export and sandbox', () => {
  it.each([
    ['the reschedule', () => String(beforeMove)],
    ['the whole story (nodes registered inside the slice)', () => '1'],
  ])(
    'replays an exported slice (%s) offline into simulated agents that reproduce every node',
    async (_name, start) => {
      const window = { from: start(), to: String(afterMove) };
      const lines: unknown[] = [];
      const ask = (request: ExportRequest) => client.execute(HISTORY.export, request);
      const first = await readExportSnapshot(ask, window);
      let page: ExportPage = first.page;
      lines.push({
        format: 'strata-incident',
        version: 1,
        from: page.from,
        to: page.to,
        snapshot: first.snapshot,
      });
      for (;;) {
        for (const event of page.events) lines.push({ event });
        if (page.next === null) break;
        page = await ask({ ...first.window, after: page.next });
      }
      lines.push({ digests: page.digests });
      expect(page.digests!.map((d) => d.node)).toEqual(NODES);
      const file = join(harness.dir, 'incident.strata');
      await writeFile(file, lines.map((line) => JSON.stringify(line)).join('\n'));

      const result = await runSandbox(file, { output: 'json', node: 'node-a' });
      expect(result.position).toBe(afterMove);
      expect(result.nodes.map((n) => [n.node, n.matches])).toEqual(NODES.map((n) => [n, true]));
      const nodeA = result.nodes.find((n) => n.node === 'node-a')!;
      expect(nodeA.digest).toBe(digest(await foldFromScratch('node-a', afterMove)));

      const early = await runSandbox(file, { output: 'json', at: String(beforeMove) });
      expect(early.position).toBe(beforeMove);
      expect(early.nodes.find((n) => n.node === 'node-a')!.digest).toBe(
        digest(await foldFromScratch('node-a', beforeMove)),
      );
    },
  );
});

describe('snapshots', () => {
  it('a state restored from a snapshot every 3 events, plus the tail, is the fold from scratch at every position', async () => {
    const index = new HistoryIndex(harness.store, { snapshotEvery: 3 });
    try {
      await index.catchUp();
      expect(index.stats.snapshots).toBeGreaterThan(3);
      const positions: number[] = [];
      for await (const event of harness.store.readAll()) positions.push(event.position);
      for (const position of positions) {
        for (const node of NODES) {
          const withSnapshot = await index.stateAt(node, position);
          expect(withSnapshot.eventsFolded).toBeLessThan(3);
          expect(digest(withSnapshot.state)).toBe(digest(await foldFromScratch(node, position)));
        }
      }
    } finally {
      index.close();
    }
  });
});
