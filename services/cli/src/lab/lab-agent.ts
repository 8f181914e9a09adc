import { CliError } from '../errors';
import { LabControl } from './control';
import { requireRoot, stopProcess } from './host';
import { assertLabName, requireState, writeState } from './lab-state';
import { credentialsDir, startAgent, waitAgentReady, type ReadyServer } from './processes';

const STOP_TIMEOUT_MS = 10_000;
const CONVERGE_TIMEOUT_MS = 60_000;

/**
 * `strata lab agent restart <node>`: stops the node's agent if it still runs (SIGTERM, then
 * SIGKILL; only the process its record names), starts it again with the flags `lab up` gave it
 * (same state dir, so it resumes from its checkpoint; same pins, so it adopts the maps the
 * pods keep forwarding with), and returns once it is ready and has applied the log up to its
 * head. Returns the new agent's PID and that position.
 */
export async function labAgentRestart(
  options: { name: string; dataDir: string; node: string },
  log: (line: string) => void,
): Promise<{ pid: number; head: number }> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const node = state.nodes.find((candidate) => candidate.name === options.node);
  if (node === undefined) {
    throw new CliError(
      'NodeNotFound',
      `lab ${state.name} has no node ${options.node}; it has ${state.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  const server = state.server;
  if (server?.natsUrl == null) {
    throw new CliError('LabNotReady', `lab ${state.name} has no running server`);
  }
  const ready: ReadyServer = { ...server, natsUrl: server.natsUrl };
  requireRoot();
  if (node.agent !== null) {
    const stopped = await stopProcess(node.agent, STOP_TIMEOUT_MS);
    log(`agent ${node.name} (pid ${node.agent.pid}): ${stopped}`);
  }
  const agent = await startAgent(state.dir, node, ready, state);
  node.agent = agent.record;
  await writeState(state);
  await waitAgentReady(node.name, agent, server);
  const control = await LabControl.open(ready.natsUrl, credentialsDir(server));
  try {
    const head = await control.waitApplied([node.name], CONVERGE_TIMEOUT_MS);
    log(`agent ${node.name} ready: pid ${agent.record.pid}, applied up to position ${head}`);
    return { pid: agent.record.pid, head };
  } finally {
    await control.close();
  }
}
