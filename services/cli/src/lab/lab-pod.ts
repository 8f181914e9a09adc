import { CommandFailed, CONFIG, IPAM } from '@strata/bus';
import { CliError } from '../errors';
import { LabControl } from './control';
import { deleteNamespace, requireRoot, requireTools } from './host';
import { assertLabName, POOL_ID, requireState, writeState } from './lab-state';
import { credentialsDir } from './processes';

const CONVERGE_TIMEOUT_MS = 60_000;

/**
 * `strata lab pod delete <pod>`: the reverse of how `lab up` adds a pod. Config deletes the
 * endpoint; once every agent has applied the log up to its head (no node forwards to the pod any
 * more), the pod's namespace goes (its veth with it) and IPAM releases the address last, so it
 * cannot be handed out while a node still routes it. A step found already done (endpoint
 * deleted, namespace gone, address released) is skipped, so a failed delete can be repeated.
 * Returns the log head every agent applied.
 */
export async function labPodDelete(
  options: { name: string; dataDir: string; pod: string },
  log: (line: string) => void,
): Promise<number> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const index = state.pods.findIndex((candidate) => candidate.name === options.pod);
  if (index < 0) {
    throw new CliError(
      'PodNotFound',
      `lab ${state.name} has no pod ${options.pod}; it has ${state.pods.map((p) => p.name).join(', ') || 'none'}`,
    );
  }
  const pod = state.pods[index];
  const server = state.server;
  if (server?.natsUrl == null) {
    throw new CliError('LabNotReady', `lab ${state.name} has no running server`);
  }
  requireRoot();
  await requireTools(['ip']);
  const control = await LabControl.open(server.natsUrl, credentialsDir(server));
  let head: number;
  try {
    await control.execute(CONFIG.deleteEndpoint, { uid: pod.uid }).catch((error: unknown) => {
      if (!(error instanceof CommandFailed && error.code === 'NotFound')) throw error;
    });
    head = await control.waitApplied(
      state.nodes.map((node) => node.name),
      CONVERGE_TIMEOUT_MS,
    );
    log(`endpoint ${pod.uid} deleted; every agent applied the log up to position ${head}`);
    await deleteNamespace(pod.namespace);
    const { released } = await control.execute(IPAM.releaseAddress, {
      poolId: POOL_ID,
      owner: pod.uid,
      address: pod.ip,
    });
    log(`namespace ${pod.namespace} removed; address ${released ?? pod.ip} released`);
  } finally {
    await control.close();
  }
  state.pods.splice(index, 1);
  await writeState(state);
  return head;
}
