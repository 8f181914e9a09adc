import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../errors';
import {
  deleteNamespace,
  listNamespaces,
  listPinDirs,
  removePinDir,
  requireRoot,
  requireTools,
  stopProcess,
} from './host';
import {
  assertLabName,
  labDir,
  labPrefix,
  ownedName,
  readState,
  stateFilePath,
  type LabState,
  type ProcessRecord,
} from './lab-state';

const STOP_TIMEOUT_MS = 10_000;

export interface LabDownOptions {
  readonly name: string;
  readonly dataDir: string;
  /** Keep the processes' logs in the lab dir (for a look at why something failed). */
  readonly keepLogs?: boolean;
}

/**
 * `strata lab down`: stops the lab's processes (by the PIDs its state file recorded), deletes its
 * namespaces and pin directories, and removes its directory. Idempotent: what is already gone
 * is skipped, and without a state file it still removes every namespace and pin directory that
 * only this lab's name can have made. Returns how many things it removed.
 */
export async function labDown(
  options: LabDownOptions,
  log: (line: string) => void,
): Promise<number> {
  const name = assertLabName(options.name);
  requireRoot();
  await requireTools(['ip']);
  const dir = labDir(options.dataDir, name);
  let state: LabState | undefined;
  try {
    state = await readState(dir);
  } catch (error) {
    // A damaged state file must not keep the namespaces alive: clean up by name.
    log(`${stateFilePath(dir)}: ${describeError(error)}; removing by name`);
  }
  const removed = await tearDown(
    state ?? {
      name,
      prefix: labPrefix(name),
      dir,
      namespaces: [],
      pinDirs: [],
      nodes: [],
      server: null,
    },
    log,
    { keepLogs: options.keepLogs ?? false },
  );
  return removed;
}

type Teardown = Pick<LabState, 'name' | 'prefix' | 'dir' | 'namespaces' | 'pinDirs' | 'server'> & {
  readonly nodes: readonly Pick<LabState['nodes'][number], 'name' | 'agent'>[];
};

/**
 * Removes what `state` names, and whatever else matches the lab's names: agents first (they
 * stop cleanly, with a last checkpoint), then the server (it stops its nats-server), then a
 * nats-server that outlived it, then pods, nodes and the underlay, then pins. Every step runs
 * even when one before it failed; the first failure is thrown at the end.
 */
export async function tearDown(
  state: Teardown,
  log: (line: string) => void,
  options: { keepLogs: boolean },
): Promise<number> {
  let removed = 0;
  const failures: unknown[] = [];
  const attempt = async (what: string, step: () => Promise<boolean | string>) => {
    try {
      const outcome = await step();
      if (outcome === false || outcome === 'gone') return;
      removed++;
      log(typeof outcome === 'string' ? `${what}: ${outcome}` : `removed ${what}`);
    } catch (error) {
      failures.push(error);
      log(`${what}: ${describeError(error)}`);
    }
  };
  const stop = (what: string, record: ProcessRecord | null | undefined) =>
    record === null || record === undefined
      ? Promise.resolve()
      : attempt(`${what} (pid ${record.pid})`, () => stopProcess(record, STOP_TIMEOUT_MS));

  await Promise.all(state.nodes.map((node) => stop(`agent ${node.name}`, node.agent)));
  await stop('server', state.server);
  await stop('nats-server', state.server?.nats);

  const owned = ownedName(state.name);
  const present = (await listNamespaces()).filter((ns) => owned.test(ns));
  // Pods, then nodes, then the underlay: the reverse of the order they were made in.
  const namespaces = [...new Set([...state.namespaces, ...present])]
    .filter((ns) => owned.test(ns))
    .sort((a, b) => depth(b, state.prefix) - depth(a, state.prefix));
  for (const namespace of namespaces) {
    await attempt(`namespace ${namespace}`, () => deleteNamespace(namespace));
  }
  const pins = [...new Set([...state.pinDirs, ...(await listPinDirs(owned))])];
  for (const path of pins) {
    await attempt(`pins ${path}`, () => removePinDir(path));
  }
  await attempt(`state of lab ${state.name}`, () => removeLabDir(state.dir, options.keepLogs));
  if (failures.length > 0) throw failures[0];
  return removed;
}

/** 2 for a pod's namespace, 1 for a node's, 0 for the underlay's. */
function depth(namespace: string, prefix: string): number {
  const rest = namespace.slice(prefix.length);
  return rest.includes('p') ? 2 : rest.startsWith('n') ? 1 : 0;
}

/** Removes the lab dir, or (keepLogs) all of it but its logs. False when nothing was there. */
async function removeLabDir(dir: string, keepLogs: boolean): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return false;
  }
  if (!keepLogs) {
    await rm(dir, { recursive: true, force: true });
    return true;
  }
  for (const entry of entries.filter((e) => !e.endsWith('.log'))) {
    await rm(join(dir, entry), { recursive: true, force: true });
  }
  return true;
}
