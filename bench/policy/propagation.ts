import {
  ALL_AGENT_APPLIED_SUBJECT,
  appliedReport,
  decodeBody,
  POLICY,
  type ApplyPolicyRequest,
} from '@strata/bus';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subscription } from 'nats';
import { LabControl } from '../../services/cli/src/lab/control';
import { requireState } from '../../services/cli/src/lab/lab-state';
import { credentialsDir } from '../../services/cli/src/lab/processes';
import { percentile } from '../support/stats';

/**
 * Part (b): from a policy change to enforcement on every lab node. A `strata lab` (real server,
 * one agent per node programming the BPF dataplane) is built with the CLI; then CHANGES times
 * one policy that selects every lab pod is applied with a new port (a PolicyCreated, then
 * PolicyUpdated events). For each, the event's append time is its `recordedAt` in the log, and a
 * node enforces it from the time of its first applied point at or past the event's position
 * (the agents' applied reports: the dataplane holds every event up to that position since then;
 * one machine, one clock). "all nodes" is the slowest node per change. The next change is sent
 * once every node applied the last, so each is measured alone.
 */

const CLI = resolve(__dirname, '../../services/cli/src/main.js');

export interface PropagationFigures {
  readonly nodes: number;
  readonly changes: number;
  /** Per change, the slowest node, ms. */
  readonly allNodes: { p50: number; p99: number; max: number };
  /** Every (change, node) pair, ms. */
  readonly perNode: { p50: number; p99: number; max: number };
}

function cli(args: readonly string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null
          ? done(stdout)
          : fail(new Error(`strata ${args.join(' ')}: ${stderr || error.message}`)),
    );
  });
}

export async function measurePropagation(
  nodes: number,
  changes: number,
  log: (line: string) => void,
): Promise<PropagationFigures> {
  if (process.getuid?.() !== 0) throw new Error('the propagation part builds a lab: run as root');
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-bench-policy-'));
  const name = `bp${process.pid % 100_000}`;
  const at = ['--name', name, '--data-dir', dataDir];
  let control: LabControl | undefined;
  let reports: Subscription | undefined;
  try {
    log(`lab ${name}: up (${nodes} nodes, 2 pods each)`);
    await cli(['lab', 'up', ...at, '--nodes', String(nodes), '--pods', '2']);
    const state = await requireState(dataDir, name);
    const server = state.server;
    if (server?.natsUrl == null) throw new Error('the lab has no server');
    control = await LabControl.open(server.natsUrl, credentialsDir(server));
    const names = state.nodes.map((node) => node.name);

    // Applied points by node, as the agents publish them.
    const points = new Map<string, [number, number][]>(names.map((node) => [node, []]));
    let wake: () => void = () => undefined;
    reports = control.subscribe(ALL_AGENT_APPLIED_SUBJECT, (data) => {
      const report = appliedReport.parse(decodeBody(data), 'report');
      points.get(report.node)?.push(...report.points);
      wake();
    });
    const appliedAt = (node: string, position: number) =>
      points.get(node)?.find(([applied]) => applied >= position)?.[1];
    const untilApplied = (position: number) =>
      new Promise<void>((done, fail) => {
        const timer = setTimeout(
          () => fail(new Error(`position ${position} not applied in 60 s`)),
          60_000,
        );
        const check = () => {
          if (names.every((node) => appliedAt(node, position) !== undefined)) {
            clearTimeout(timer);
            wake = () => undefined;
            done();
          }
        };
        wake = check;
        check();
      });

    let head = await control.waitApplied(names, 60_000);
    const all: number[] = [];
    const each: number[] = [];
    const policyId = 'bench-propagation';
    for (let k = 0; k < changes; k++) {
      const request: ApplyPolicyRequest = {
        policyId,
        name: policyId,
        tier: 'application',
        priority: 1000,
        selector: { matchLabels: { 'strata.io/lab': name }, matchExpressions: [] },
        directions: ['ingress'],
        ingress: [
          {
            action: 'allow',
            peers: [],
            ports: [{ protocol: 'TCP', port: 10_000 + k, endPort: 10_000 + k }],
          },
        ],
        egress: [],
        staged: false,
        source: { kind: 'strata', namespace: '', name: '' },
      };
      await control.execute(POLICY.applyPolicy, request);
      let event: { position: number; recordedAt: Date } | undefined;
      for await (const recorded of control.readLog({ after: head })) {
        head = recorded.position;
        if (recorded.stream === `policy-${policyId}`) event = recorded;
      }
      if (event === undefined) throw new Error(`change ${k}: no policy event after ${head}`);
      await untilApplied(event.position);
      const appended = event.recordedAt.getTime();
      const delays = names.map((node) => (appliedAt(node, event.position) as number) - appended);
      each.push(...delays);
      all.push(Math.max(...delays));
    }
    const summary = (values: number[]) => ({
      p50: percentile(values, 50),
      p99: percentile(values, 99),
      max: Math.max(...values),
    });
    return { nodes, changes, allNodes: summary(all), perNode: summary(each) };
  } finally {
    reports?.unsubscribe();
    await control?.close().catch(() => undefined);
    await cli(['lab', 'down', ...at]).catch((error: unknown) => log(`lab down: ${String(error)}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}
