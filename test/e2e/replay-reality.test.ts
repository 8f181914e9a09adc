import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import {
  agentSubject,
  CONFIG,
  decodeBody,
  encodeJson,
  HISTORY,
  loadCredentials,
  POLICY,
  type AgentStatus,
  type StrataService,
} from '@strata/bus';
import { digest, type ForwardingTables } from '@strata/forwarding';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startPolicyService } from '../../services/policy/src/policy-service';
import {
  createSegment,
  startAgentHarness,
  type AgentHarness,
  type StartedAgent,
} from '../support/agent-harness';

// Replay equals reality. Three real agents (bus reader, fold, reconciler; memory dataplane)
// follow a real control plane (nats-server, SQLite, config, IPAM, policy, analytics) through
// churn: pods created, relabelled, moved and deleted, a policy created and revised. Their
// applied state is captured at many moments *during* the churn, two ways:
//  - in process, at the instant each write lands: the reconciler reads the clock right after
//    it records a new applied position, so a clock wrapper copies the memory dataplane then
//    (the tables the agent's writes produced, at exactly that position);
//  - over NATS, by asking each agent its status (applied position and applied digest).
// Then `replay --at` each captured position, through the analytics service's NATS API, must
// give the identical digest; and once the churn is applied everywhere, so must the built
// `strata replay` command. No sleeps: every wait is on an applied position or a reply.

jest.setTimeout(180_000);

const NODES = ['node-a', 'node-b', 'node-c'];
const ROUNDS = 40;
const root = resolve(__dirname, '../..');

interface Capture {
  readonly node: string;
  readonly position: number;
  readonly digest: string;
  readonly how: 'dataplane' | 'status';
}

let harness: AgentHarness;
let policy: StrataService;
const agents = new Map<string, StartedAgent>();
const pending: { node: string; position: number; tables: Promise<ForwardingTables> }[] = [];
const captures: Capture[] = [];

beforeAll(async () => {
  harness = await startAgentHarness(NODES, { analytics: {} });
  policy = await startPolicyService({
    natsUrl: harness.nats.url,
    store: harness.store,
    credentials: await loadCredentials(harness.credentialsDir, 'policy'),
    logger: false,
  });
  for (const node of NODES) {
    let lastCaptured = 0;
    const now = () => {
      const started = agents.get(node);
      const position = started?.agent.appliedPosition ?? 0;
      if (started !== undefined && position > lastCaptured) {
        lastCaptured = position;
        // read() copies synchronously: the dataplane as the write just left it.
        pending.push({ node, position, tables: started.dataplane.read() });
      }
      return Date.now();
    };
    agents.set(node, await harness.startAgent(node, { now }));
  }
});

afterAll(async () => {
  await policy?.close();
  await harness?.close();
});

async function status(node: string): Promise<AgentStatus> {
  const reply = await harness.admin.request(agentSubject(node, 'status'), encodeJson({}), {
    timeout: 5_000,
  });
  const body = decodeBody(reply.data) as { ok: boolean; data: AgentStatus };
  expect(body.ok).toBe(true);
  return body.data;
}

function strata(...args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile(join(root, 'bin/strata'), args, { timeout: 30_000 }, (error, stdout, stderr) =>
      error === null ? done(stdout) : fail(new Error(`strata ${args.join(' ')}: ${stderr}`)),
    );
  });
}

it('replay --at every captured moment gives the digest the agent applied', async () => {
  const { client } = harness;
  await createSegment(client, 'blue', '10.2.0.0/24');
  await createSegment(client, 'green', '10.3.0.0/24');
  const ip = (i: number) => (i % 2 === 0 ? `10.2.0.${10 + i}` : `10.3.0.${10 + i}`);
  for (let round = 0; round < ROUNDS; round++) {
    const node = NODES[round % NODES.length];
    await client.execute(CONFIG.createEndpoint, {
      uid: `pod-${round}`,
      kind: 'pod',
      segmentId: round % 2 === 0 ? 'blue' : 'green',
      node,
      ip: ip(round),
      mac: `0a:58:00:00:01:${round.toString(16).padStart(2, '0')}`,
      labels: { app: round % 3 === 0 ? 'web' : 'db' },
    });
    if (round >= 1) {
      await client.execute(CONFIG.relabelEndpoint, {
        uid: `pod-${round - 1}`,
        labels: { app: 'web', version: String(round) },
      });
    }
    if (round >= 2 && round % 2 === 0) {
      await client.execute(CONFIG.moveEndpoint, {
        uid: `pod-${round - 2}`,
        node: NODES[(round + 1) % NODES.length],
      });
    }
    if (round >= 4 && round % 4 === 0) {
      await client.execute(CONFIG.deleteEndpoint, { uid: `pod-${round - 4}` });
    }
    if (round === 10) {
      await client.execute(POLICY.createPolicy, {
        policyId: 'db-in',
        name: 'db-in',
        tier: 'application',
        priority: 100,
        selector: { matchLabels: { app: 'db' } },
        ingress: [
          {
            action: 'allow',
            peers: [{ selector: { matchLabels: { app: 'web' } } }],
            ports: [{ protocol: 'TCP', port: 5432 }],
          },
        ],
      });
    }
    if (round === 25) {
      await client.execute(POLICY.updatePolicy, {
        policyId: 'db-in',
        ingress: [{ action: 'deny', ports: [{ protocol: 'TCP', port: 22 }] }],
      });
    }
    // Mid-churn: each agent's own report of what it applied (no waiting for it to catch up).
    if (round % 5 === 4) {
      for (const node of NODES) {
        const report = await status(node);
        if (report.appliedPosition > 0) {
          captures.push({
            node,
            position: report.appliedPosition,
            digest: report.appliedDigest,
            how: 'status',
          });
        }
      }
    }
  }
  const head = await harness.head();
  for (const { agent } of agents.values()) await agent.waitApplied(head);
  for (const { node, position, tables } of pending) {
    captures.push({ node, position, digest: digest(await tables), how: 'dataplane' });
  }

  // Many distinct moments per node, from both sources.
  for (const node of NODES) {
    const moments = new Set(captures.filter((c) => c.node === node).map((c) => c.position));
    expect(moments.size).toBeGreaterThanOrEqual(5);
  }
  expect(captures.filter((c) => c.how === 'status').length).toBeGreaterThanOrEqual(NODES.length);

  const mismatches: string[] = [];
  for (const capture of captures) {
    const replayed = await harness.client.execute(HISTORY.replay, {
      node: capture.node,
      at: String(capture.position),
    });
    expect(replayed.at.position).toBe(capture.position);
    if (replayed.digest !== capture.digest) {
      mismatches.push(`${capture.node}@${capture.position} (${capture.how})`);
    }
  }
  expect(mismatches).toEqual([]);
  // The state changed along the way: the captures are not all one digest.
  expect(new Set(captures.map((c) => c.digest)).size).toBeGreaterThan(NODES.length * 3);

  // The built CLI, as an SRE runs it, agrees with the agent's dataplane at the end.
  for (const [node, { agent, dataplane }] of agents) {
    const position = agent.appliedPosition;
    const applied = digest(await dataplane.read());
    const stdout = await strata(
      'replay',
      '--node',
      node,
      '--at',
      String(position),
      '-o',
      'json',
      '--data-dir',
      harness.dir,
      '--nats',
      harness.nats.url,
    );
    expect((JSON.parse(stdout) as { digest: string }).digest).toBe(applied);
  }
});

/** Runs the built CLI against the harness; resolves with exit code and output. */
function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      join(root, 'bin/strata'),
      [...args, '--data-dir', harness.dir, '--nats', harness.nats.url],
      { timeout: 30_000 },
      (error, stdout, stderr) =>
        done({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }),
    );
  });
}

it('the built commands print their tables, and clear errors for bad input', async () => {
  const head = String(await harness.head());
  const replay = await run('replay', '--node', 'node-a', '--at', head);
  expect({ code: replay.code, stderr: replay.stderr }).toEqual({ code: 0, stderr: '' });
  expect(replay.stdout).toMatch(/^node-a at position \d+ \(.+\): digest [0-9a-f]{64}/);
  expect(replay.stdout).toContain('vteps:');

  const diff = await run('diff', '--node', 'node-b', '--from', '1', '--to', head);
  expect({ code: diff.code, stderr: diff.stderr }).toEqual({ code: 0, stderr: '' });
  expect(diff.stdout).toMatch(/TABLE\s+KEY\s+CHANGE\s+ENTRY\s+CAUSED BY/);
  expect(diff.stdout).toContain('EndpointCreated endpoint-pod-');

  const trace = await run('trace', '--from', 'pod-39', '--to', 'pod-37:5432');
  expect({ code: trace.code, stderr: trace.stderr }).toEqual({ code: 0, stderr: '' });
  expect(trace.stdout).toMatch(/STEP\s+NODE\s+RESULT\s+DETAIL/);
  expect(trace.stdout).toMatch(/DELIVERED|DROPPED: /);

  const history = await run('history', 'ip', '10.2.0.10', '-o', 'json');
  expect({ code: history.code, stderr: history.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(history.stdout).tenures[0]).toMatchObject({ uid: 'pod-0' });

  for (const [args, code] of [
    [['replay', '--node', 'node-z', '--at', head], 'UnknownNode'],
    [['replay', '--node', 'node-a', '--at', '2001-01-01T00:00:00Z'], 'BeforeFirstEvent'],
    [['explain', 'route', '10.2.0.300', '--node', 'node-a', '--at', head], 'InvalidIp'],
    [['trace', '--from', 'pod-39', '--to', 'pod-37'], 'InvalidArgument'],
  ] as const) {
    const result = await run(...args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^strata: ${code}: `));
  }
});
