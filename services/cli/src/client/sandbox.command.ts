import { digest, ForwardingState, tablesToJson, type HistoryEvent } from '@strata/forwarding';
import { Option, type Command } from 'commander';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { MemoryDataplane } from '../../../agent/src/dataplane';
import { Reconciler } from '../../../agent/src/reconciler';
import { CliError } from '../errors';
import { INCIDENT_FORMAT, INCIDENT_VERSION } from './export.command';
import { print, table, type OutputFormat } from './options';
import { tablesText } from './replay.command';

interface SandboxOptions {
  readonly node?: string;
  readonly at?: string;
  readonly output: OutputFormat;
}

/** One simulated agent: the agent's own fold and reconciler over a memory dataplane. */
interface SimulatedAgent {
  readonly node: string;
  readonly state: ForwardingState;
  readonly dataplane: MemoryDataplane;
  readonly reconciler: Reconciler;
}

export interface SandboxNode {
  readonly node: string;
  /** The digest of the simulated agent's applied dataplane. */
  readonly digest: string;
  /** The production digest the export recorded for this node at its end; null: none. */
  readonly recorded: string | null;
  readonly matches: boolean | null;
}

export interface SandboxResult {
  readonly position: number;
  readonly events: number;
  readonly nodes: readonly SandboxNode[];
  readonly tables?: Record<string, unknown>;
}

/**
 * `strata sandbox incident.strata [--node N] [--at P]`: an exported slice of history replayed
 * offline — no server, no NATS — into one simulated agent per node (the agent's fold and
 * reconciler, writing to a memory dataplane). Prints each node's applied digest beside the one
 * production recorded at the end of the slice; `--node` also prints that node's tables,
 * `--at` stops at a position. A differing digest exits non-zero (Mismatch).
 */
export function registerSandboxCommand(program: Command): void {
  program
    .command('sandbox')
    .description('replay an exported incident offline into simulated agents')
    .argument('<file>', 'an incident file from `strata export`')
    .option('--node <name>', "also print this node's tables")
    .option('--at <position>', 'stop after this log position')
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json'])
        .default('table'),
    )
    .action(async (file: string, options: SandboxOptions) => {
      const result = await runSandbox(file, options);
      print(options, result, sandboxText);
      if (result.nodes.some((node) => node.matches === false)) {
        throw new CliError('Mismatch', 'the sandbox did not reproduce the recorded state');
      }
    });
}

export async function runSandbox(file: string, options: SandboxOptions): Promise<SandboxResult> {
  const stop = options.at === undefined ? Infinity : position(options.at);
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const agents = new Map<string, SimulatedAgent>();
  let snapshot: unknown;
  let recorded: { node: string; digest: string }[] | undefined;
  let events = 0;
  let last = 0;
  let number = 0;
  const agentFor = (node: string) => {
    let agent = agents.get(node);
    if (agent === undefined) {
      const state = ForwardingState.restore(snapshot, { asNode: node });
      const dataplane = new MemoryDataplane();
      const reconciler = new Reconciler({
        state,
        dataplane,
        now: () => 0,
        onApplied: () => undefined,
      });
      agent = { node, state, dataplane, reconciler };
      agents.set(node, agent);
    }
    return agent;
  };
  const slice: HistoryEvent[] = [];
  try {
    for await (const text of lines) {
      number++;
      if (text.trim() === '') continue;
      const value = parseLine(text, number);
      if (number === 1) {
        if (value.format !== INCIDENT_FORMAT || value.version !== INCIDENT_VERSION) {
          throw invalid(number, `not a ${INCIDENT_FORMAT} version ${INCIDENT_VERSION} file`);
        }
        snapshot = value.snapshot;
        try {
          last = ForwardingState.restore(snapshot).position;
        } catch (error) {
          throw invalid(number, (error as Error).message);
        }
      } else if (value.event !== undefined) {
        const event = checkEvent(value.event, number);
        if (event.position <= stop) slice.push(event);
      } else if (Array.isArray(value.digests)) {
        recorded = value.digests as { node: string; digest: string }[];
      }
    }
  } finally {
    lines.close();
  }
  if (snapshot === undefined) throw invalid(0, 'the file is empty');
  // Every node of the slice, those registered inside it too, folds the slice from its start.
  for (const node of ForwardingState.restore(snapshot).snapshot().nodes) agentFor(node.name);
  for (const event of slice) {
    const name = (event.data as { name?: unknown } | null)?.name;
    if (event.type === 'NodeRegistered' && typeof name === 'string') agentFor(name);
  }
  for (const event of slice) {
    for (const agent of agents.values()) agent.state.apply(event);
    events++;
    last = event.position;
  }
  const complete = stop === Infinity;
  const nodes: SandboxNode[] = [];
  for (const agent of [...agents.values()].sort((a, b) => (a.node < b.node ? -1 : 1))) {
    await agent.reconciler.flush();
    const applied = digest(await agent.dataplane.read());
    const production = complete
      ? (recorded?.find((r) => r.node === agent.node)?.digest ?? null)
      : null;
    nodes.push({
      node: agent.node,
      digest: applied,
      recorded: production,
      matches: production === null ? null : production === applied,
    });
  }
  const shown = options.node === undefined ? undefined : agents.get(options.node);
  if (options.node !== undefined && shown === undefined) {
    throw new CliError('UnknownNode', `node ${options.node} is not in this incident`);
  }
  return {
    position: last,
    events,
    nodes,
    ...(shown === undefined
      ? {}
      : {
          tables: tablesToJson(await shown.dataplane.read()) as unknown as Record<string, unknown>,
        }),
  };
}

function sandboxText(result: SandboxResult): string {
  return [
    `replayed ${result.events} events, up to position ${result.position}`,
    table(
      ['NODE', 'APPLIED DIGEST', 'RECORDED', 'REPRODUCED'],
      result.nodes.map((node) => [
        node.node,
        node.digest,
        node.recorded ?? '-',
        node.matches === null ? '-' : node.matches ? 'yes' : 'NO',
      ]),
      '(no nodes)',
    ),
    ...(result.tables === undefined ? [] : [tablesText(result.tables as never)]),
  ].join('\n');
}

function position(value: string): number {
  if (!/^[0-9]+$/.test(value)) {
    throw new CliError(
      'InvalidArgument',
      `--at must be a log position, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

function parseLine(text: string, number: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(number, (error as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(number, 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}

function checkEvent(value: unknown, number: number): HistoryEvent {
  const event = value as Record<string, unknown> | null;
  if (
    typeof event !== 'object' ||
    event === null ||
    typeof event.type !== 'string' ||
    typeof event.stream !== 'string' ||
    !Number.isSafeInteger(event.revision) ||
    !Number.isSafeInteger(event.position)
  ) {
    throw invalid(number, 'an event needs type, stream, revision and position');
  }
  return event as unknown as HistoryEvent;
}

function invalid(number: number, why: string): CliError {
  return new CliError('InvalidIncident', `incident file line ${number}: ${why}`);
}
