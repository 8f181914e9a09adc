import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import {
  agentSubject,
  ALL_AGENT_APPLIED_SUBJECT,
  appliedReport,
  CONFIG,
  decodeBody,
  type AgentStatus,
  type CommandReply,
} from '@strata/bus';
import { createSegment, startAgentHarness, type AgentHarness } from '../support/agent-harness';
import { Signal } from '../support/relay-harness';

/**
 * The agent as a real process (`strata agent`, its own NATS connection and checkpoint file):
 * kill -9 in the middle of a stream of changes, restart, and its state must be the fold of the
 * whole log; kept offline while 10,000 events happen, it must catch up from its checkpoint by
 * reading only those events, never relisting the log.
 */

const ROOT = join(__dirname, '..', '..');
const NODE = 'node-1';
const PEER = 'node-2';

describe('agent restart', () => {
  let h: AgentHarness;
  const applied = new Map<string, number>();
  const reported = new Signal();
  let child: AgentProcess | undefined;
  let written = 0;

  beforeAll(async () => {
    h = await startAgentHarness([NODE, PEER]);
    h.admin.subscribe(ALL_AGENT_APPLIED_SUBJECT, {
      callback: (_error, msg) => {
        const report = appliedReport.parse(decodeBody(msg.data), '');
        const last = report.points.at(-1)?.[0] ?? 0;
        applied.set(report.node, Math.max(applied.get(report.node) ?? 0, last));
        reported.notify();
      },
    });
    await createSegment(h.client, 'blue', '10.0.0.0/8');
    await h.client.execute(CONFIG.registerNode, {
      name: PEER,
      vtepAddress: '192.168.100.2',
      vtepMac: '02:00:00:00:64:02',
    });
  }, 60_000);

  afterAll(async () => {
    await child?.kill9();
    await h?.close();
  });

  /** Appends `count` pods on the peer straight into the log (what the services would append). */
  async function writePods(count: number, batch = 1): Promise<void> {
    for (let done = 0; done < count;) {
      const n = Math.min(batch, count - done);
      await Promise.all(
        Array.from({ length: n }, () => {
          const i = written++;
          const ip = `10.${2 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
          return h.store.append(
            `endpoint-w${i}`,
            [
              {
                id: `w-${i}-created`,
                type: 'EndpointCreated',
                data: {
                  uid: `w${i}`,
                  kind: 'pod',
                  segmentId: 'blue',
                  node: PEER,
                  ip,
                  mac: `0a:58:0a:${[2 + (i >> 16), (i >> 8) & 255, i & 255]
                    .map((b) => b.toString(16).padStart(2, '0'))
                    .join(':')}`,
                  labels: { app: `a${i % 7}` },
                },
              },
            ],
            'no-stream',
          );
        }),
      );
      done += n;
    }
  }

  async function status(): Promise<AgentStatus> {
    const msg = await h.admin.request(agentSubject(NODE, 'status'), new Uint8Array(), {
      timeout: 10_000,
    });
    const reply = decodeBody(msg.data) as CommandReply<AgentStatus>;
    if (!reply.ok) throw new Error(reply.error.message);
    return reply.data;
  }

  async function waitApplied(position: number): Promise<void> {
    await reported.until(
      () => (applied.get(NODE) ?? 0) >= position,
      `${NODE} applying ${position}`,
      60_000,
    );
  }

  it('resumes from its checkpoint after kill -9 with the state of a fold from scratch', async () => {
    child = AgentProcess.spawn(h, NODE);
    await writePods(1_000, 50);
    await waitApplied(await h.head());

    // Keep writing while the agent is killed: it dies mid-stream.
    let stop = false;
    const writing = (async () => {
      while (!stop) await writePods(20, 20);
    })();
    await waitApplied((await h.head()) + 200);
    await child.kill9();
    const atKill = applied.get(NODE)!;
    // Its checkpoint is at most what the log held when it died (it may be past its last
    // applied report: it checkpoints what it folded).
    const headAtKill = await h.head();
    child = AgentProcess.spawn(h, NODE);
    await waitApplied(atKill + 200);
    stop = true;
    await writing;
    await waitApplied(await h.head());

    const after = await status();
    expect(after.resumedFrom).toBeGreaterThan(0); // from its checkpoint, not the start of the log
    expect(after.resumedFrom).toBeLessThanOrEqual(headAtKill);
    expect(after.position).toBe(await h.head());
    expect(after.desiredDigest).toBe(await h.foldDigest(NODE));
    expect(after.appliedDigest).toBe(after.desiredDigest);
    expect(after.tables.remote).toBe(written);
  }, 120_000);

  it('catches up on 10,000 events after being offline, reading only those', async () => {
    await child!.terminate(); // a clean stop writes a last checkpoint
    const before = await h.head();
    await writePods(10_000, 100);
    const head = await h.head();
    // The 10,000 pods, and at most a heartbeat the stopping agent had in flight.
    expect(head - before).toBeGreaterThanOrEqual(10_000);
    expect(head - before).toBeLessThanOrEqual(10_001);
    const started = performance.now();
    child = AgentProcess.spawn(h, NODE);
    await waitApplied(head);
    const after = await status();
    console.log(
      `offline catch-up: 10,000 events applied ${Math.round(performance.now() - started)} ms ` +
        `after the agent process started (from position ${after.resumedFrom}); ` +
        `reader ${JSON.stringify(after.reader)}`,
    );
    // A clean stop checkpoints what it folded: the log up to its stop, give or take what was
    // still on the wire.
    expect(after.resumedFrom).toBeLessThanOrEqual(before);
    expect(after.resumedFrom).toBeGreaterThan(before - 100);
    // Everything it read came after its checkpoint: no relist of the earlier log.
    // (The agent's own heartbeat may have added an event since.)
    expect(after.reader.delivered).toBeLessThanOrEqual(after.position - after.resumedFrom);
    expect(after.reader.fromStore).toBeGreaterThan(0);
    expect(after.fold.applied + after.fold.ignored + after.fold.duplicates).toBeGreaterThan(before);
    expect(after.desiredDigest).toBe(await h.foldDigest(NODE));
    expect(after.appliedDigest).toBe(after.desiredDigest);
    expect(after.tables.remote).toBe(written);
  }, 180_000);
});

/** `strata agent` run from source in its own process. */
class AgentProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
  }

  static spawn(h: AgentHarness, node: string): AgentProcess {
    const child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        '--require',
        join(ROOT, 'test', 'support', 'relay-ts-register.js'),
        join(ROOT, 'services', 'cli', 'src', 'main.ts'),
        'agent',
        '--node',
        node,
        '--vtep-address',
        '192.168.100.1',
        '--vtep-mac',
        '02:00:00:00:64:01',
        '--nats',
        h.nats.url,
        '--credentials',
        h.credentialsDir,
        '--state-dir',
        join(h.dir, 'agent-state'),
        '--health-port',
        '0',
        '--checkpoint-ms',
        '50',
        '--heartbeat-ms',
        '200',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new AgentProcess(child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill9(): Promise<void> {
    if (this.running) process.kill(this.child.pid!, 'SIGKILL');
    await this.exited;
  }

  async terminate(): Promise<void> {
    if (this.running) process.kill(this.child.pid!, 'SIGTERM');
    await this.exited;
    if (this.child.exitCode !== 0) {
      throw new Error(`the agent exited with ${this.child.exitCode}:\n${this.output}`);
    }
  }
}
