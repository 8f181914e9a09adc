import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CliError } from '../errors';
import { CREDENTIALS_SUBDIR, readServerInfo } from '../server/server-file';
import {
  freePort,
  isRunning,
  logTail,
  processStartTime,
  startDetached,
  type Started,
} from './host';
import {
  POD_MTU,
  UNDERLAY_INTERFACE,
  type AgentRecord,
  type LabDataplane,
  type LabMode,
  type LabNode,
  type ProcessRecord,
  type ServerRecord,
} from './lab-state';

/**
 * The lab's processes: one `strata server` (its own data dir under the lab's, agent
 * credentials for the lab's nodes) and one `strata agent` per node, in the root namespace,
 * programming its node's namespace. Each is this CLI, detached, writing to a log in the lab dir;
 * readiness is its /readyz answering 200.
 */

const READY_POLL_MS = 100;

// This file is dist/services/cli/src/lab/processes.js; the CLI's entry point is beside lab/.
const CLI_MAIN = resolve(__dirname, '..', 'main.js');

/** A server that is ready: its NATS URL is known. */
export type ReadyServer = ServerRecord & { readonly natsUrl: string };

export interface StartedServer {
  readonly record: ReadyServer;
  readonly started: Started;
}

/**
 * Starts `strata server` and waits until it is ready; `onSpawned` records it first, so a lab
 * interrupted while the server starts still knows its PID.
 */
export async function startServer(
  labDir: string,
  nodes: readonly string[],
  onSpawned: (record: ServerRecord) => Promise<void>,
): Promise<StartedServer> {
  const dataDir = join(labDir, 'server');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const healthPort = await freePort();
  const log = join(labDir, 'server.log');
  const started = await startDetached(
    process.execPath,
    [
      CLI_MAIN,
      'server',
      '--data-dir',
      dataDir,
      '--health-port',
      String(healthPort),
      '--http-port',
      '0',
      '--nodes',
      nodes.join(','),
    ],
    log,
    labDir,
  );
  await onSpawned({ ...started.record, dataDir, healthPort, natsUrl: null, nats: null });
  await waitReady('strata server', healthPort, started);
  const info = await readServerInfo(dataDir);
  if (info === undefined) {
    throw new CliError(
      'StartFailed',
      `strata server is ready but wrote no server.json in ${dataDir}`,
    );
  }
  const natsStart = info.natsPid === null ? undefined : await processStartTime(info.natsPid);
  return {
    started,
    record: {
      ...started.record,
      dataDir,
      healthPort,
      natsUrl: info.natsUrl,
      nats:
        info.natsPid === null || natsStart === undefined
          ? null
          : { pid: info.natsPid, startTime: natsStart, log },
    },
  };
}

export function credentialsDir(server: ServerRecord): string {
  return join(server.dataDir, CREDENTIALS_SUBDIR);
}

export interface StartedAgent {
  readonly record: AgentRecord;
  readonly started: Started;
}

/** Starts the node's agent; `waitAgentReady` waits for it. */
export async function startAgent(
  labDir: string,
  node: LabNode,
  server: ReadyServer,
  options: { dataplane: LabDataplane; mode: LabMode },
): Promise<StartedAgent & { readonly healthPort: number }> {
  const stateDir = join(labDir, 'agents', node.name);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const healthPort = await freePort();
  const log = join(labDir, `agent-${node.name}.log`);
  const started = await startDetached(
    process.execPath,
    [CLI_MAIN, 'agent', ...agentArgs(node, server, { ...options, stateDir, healthPort })],
    log,
    labDir,
  );
  return { started, healthPort, record: { ...started.record, healthPort, stateDir } };
}

/** The flags of a node's `strata agent`. */
export function agentArgs(
  node: LabNode,
  server: ReadyServer,
  options: { dataplane: LabDataplane; mode: LabMode; stateDir: string; healthPort: number },
): string[] {
  const common = [
    '--node',
    node.name,
    '--vtep-address',
    node.underlayIp,
    '--vtep-mac',
    node.vtepMac,
    '--nats',
    server.natsUrl,
    '--credentials',
    credentialsDir(server),
    '--state-dir',
    options.stateDir,
    '--health-port',
    String(options.healthPort),
    '--dataplane',
    options.dataplane,
  ];
  if (options.dataplane === 'memory') return common;
  return [
    ...common,
    '--netns',
    `/run/netns/${node.namespace}`,
    '--underlay-interface',
    UNDERLAY_INTERFACE,
    '--pin-dir',
    node.pinDir,
    '--mode',
    options.mode,
    // What the lab gives every pod's eth0: the agent answers too-big packets with it.
    '--pod-mtu',
    String(POD_MTU),
  ];
}

/** Waits for the agent's /readyz; fails fast if the agent, or the server it needs, exits. */
export async function waitAgentReady(
  node: string,
  agent: StartedAgent,
  server: ServerRecord,
): Promise<void> {
  await waitReady(`the agent of ${node}`, agent.record.healthPort, agent.started, [
    { what: 'strata server', record: server },
  ]);
}

/**
 * Polls GET /readyz on 127.0.0.1:`port` until it answers 200; fails at once with the log's tail
 * when the process, or one it `needs`, exits first, and after `timeoutMs` with the last answer.
 */
async function waitReady(
  what: string,
  port: number,
  started: Started,
  needs: readonly { what: string; record: ProcessRecord }[] = [],
  timeoutMs = 60_000,
): Promise<void> {
  let exited: string | undefined;
  void started.exited.then((how) => {
    exited = how;
  });
  let last = 'no answer';
  for (let waited = 0; waited < timeoutMs; waited += READY_POLL_MS) {
    if (exited !== undefined || !(await isRunning(started.record))) {
      throw new CliError(
        'StartFailed',
        `${what} exited (${exited ?? 'gone'}) before it was ready; ${started.record.log} ends:\n` +
          (await logTail(started.record.log)),
      );
    }
    for (const need of needs) {
      if (!(await isRunning(need.record))) {
        throw new CliError(
          'StartFailed',
          `${what} cannot get ready: ${need.what} (pid ${need.record.pid}) exited; ` +
            `${need.record.log} ends:\n${await logTail(need.record.log)}`,
        );
      }
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, {
        signal: AbortSignal.timeout(2_000),
      });
      const body = await response.text();
      if (response.status === 200) return;
      last = `${response.status} ${body.trim()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new CliError(
    'StartFailed',
    `${what} was not ready within ${timeoutMs} ms (${last}); ${started.record.log} ends:\n` +
      (await logTail(started.record.log)),
  );
}
