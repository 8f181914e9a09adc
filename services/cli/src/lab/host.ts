import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { constants, openSync, closeSync } from 'node:fs';
import { access, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { CliError } from '../errors';
import { BPFFS, NETNS_DIR, type ProcessRecord } from './lab-state';

/**
 * What the lab asks of the machine: commands (`ip`, `nsenter`, `sysctl`, `ethtool`), network
 * namespaces, bpffs pin directories, and the processes it starts and stops by PID.
 */

const COMMAND_TIMEOUT_MS = 30_000;

/** Runs `file args`; resolves with stdout, or throws NetworkSetupFailed with its stderr. */
export function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve(stdout);
          return;
        }
        const why = stderr.trim() || error.message;
        reject(
          new CliError('NetworkSetupFailed', `${file} ${args.join(' ')}: ${why}`, { cause: error }),
        );
      },
    );
  });
}

/** `ip -n <namespace> args` (the root namespace when `namespace` is undefined). */
export function ip(namespace: string | undefined, ...args: string[]): Promise<string> {
  return run('ip', namespace === undefined ? args : ['-n', namespace, ...args]);
}

/**
 * Runs `command` in a namespace's network stack with nsenter: `ip netns exec` would remount
 * /sys and hide the pinned maps under /sys/fs/bpf.
 */
export function nsenterArgs(namespace: string, command: readonly string[]): string[] {
  // nsenter stops at its first operand (getopt `+`), and takes a literal `--` for the command.
  return [`--net=${join(NETNS_DIR, namespace)}`, ...command];
}

export function inNamespace(namespace: string, ...command: string[]): Promise<string> {
  return run('nsenter', nsenterArgs(namespace, command));
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new CliError(
      'NotRoot',
      'the lab creates network namespaces and BPF pins: run it as root (sudo)',
    );
  }
}

/** Throws MissingTool naming the first of `tools` not on PATH. */
export async function requireTools(tools: readonly string[]): Promise<void> {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
  for (const tool of tools) {
    const found = await Promise.any(
      dirs.map((dir) => access(join(dir, tool), constants.X_OK)),
    ).then(
      () => true,
      () => false,
    );
    if (!found) {
      throw new CliError('MissingTool', `${tool} is not on PATH (install it: the lab needs it)`);
    }
  }
}

/** Every named network namespace (`ip netns add` makes them under /run/netns). */
export async function listNamespaces(): Promise<string[]> {
  try {
    return await readdir(NETNS_DIR);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Deletes a namespace; one that is already gone is fine. */
export async function deleteNamespace(namespace: string): Promise<boolean> {
  if (!(await listNamespaces()).includes(namespace)) return false;
  await ip(undefined, 'netns', 'del', namespace);
  return true;
}

/** Pin directories under bpffs whose name matches `owned`. */
export async function listPinDirs(owned: RegExp): Promise<string[]> {
  try {
    return (await readdir(BPFFS)).filter((entry) => owned.test(entry)).map((e) => join(BPFFS, e));
  } catch {
    return [];
  }
}

/** Removes a pin directory and the pins in it (the programs and maps go with their last user). */
export async function removePinDir(path: string): Promise<boolean> {
  try {
    await access(path);
  } catch {
    return false;
  }
  await rm(path, { recursive: true, force: true });
  return true;
}

/** Destinations of every IPv4 route of the root namespace, all tables. */
export async function rootRoutes(): Promise<string[]> {
  const routes = JSON.parse(await ip(undefined, '-j', '-4', 'route', 'show', 'table', 'all')) as {
    dst?: string;
  }[];
  return routes.flatMap((route) => (route.dst === undefined ? [] : [route.dst]));
}

/**
 * A free TCP port on 127.0.0.1 for a process the lab starts next. It is drawn below the
 * kernel's ephemeral range (`net.ipv4.ip_local_port_range`), which is where every `listen(0)`
 * (nats-servers of other tests, other services) and every outgoing connection takes its port:
 * a port picked there could be taken between this check and the child's bind. Here only
 * another lab picking at the same moment could take it.
 */
export async function freePort(): Promise<number> {
  const [ephemeralStart] = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .then((text) => text.trim().split(/\s+/).map(Number))
    .catch(() => [32_768]);
  const low = 10_000;
  const high = Math.max(low + 1_000, ephemeralStart) - 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + randomInt(high - low + 1);
    if (await canListen(port)) return port;
  }
  throw new CliError('StartFailed', `no free port between ${low} and ${high} on 127.0.0.1`);
}

function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// --- processes ----------------------------------------------------------------------------

/** A long-running child: detached (own process group), output to `log`, outliving the CLI. */
export interface Started {
  readonly record: ProcessRecord;
  readonly child: ChildProcess;
  /** Resolves when the child exits (while this process still watches it). */
  readonly exited: Promise<string>;
}

export async function startDetached(
  command: string,
  args: readonly string[],
  log: string,
  cwd: string,
): Promise<Started> {
  const fd = openSync(log, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal === null ? `exit ${code}` : signal));
    child.once('error', (error) => resolve(error.message));
  });
  const pid = child.pid;
  if (pid === undefined) {
    throw new CliError('StartFailed', `could not start ${command}: ${await exited}`);
  }
  const startTime = await processStartTime(pid);
  child.unref();
  return { record: { pid, startTime: startTime ?? 0, log }, child, exited };
}

/** /proc/<pid>/stat field 22, or undefined when there is no such process (or it is a zombie). */
export async function processStartTime(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return Number(fields[19]);
}

/** Whether the process the record names still runs (same PID *and* same start time). */
export async function isRunning(record: ProcessRecord): Promise<boolean> {
  const startTime = await processStartTime(record.pid);
  return startTime !== undefined && startTime === record.startTime;
}

const STOP_POLL_MS = 50;

/**
 * SIGTERM, then SIGKILL if it still runs after `timeoutMs`; resolves once it is gone. Only the
 * process the record names is ever signalled: a reused PID has another start time. Returns what
 * happened: `gone` (already), `stopped`, `killed`.
 */
export async function stopProcess(
  record: ProcessRecord,
  timeoutMs: number,
): Promise<'gone' | 'stopped' | 'killed'> {
  if (!(await isRunning(record))) return 'gone';
  signal(record.pid, 'SIGTERM');
  if (await waitGone(record, timeoutMs)) return 'stopped';
  if (await isRunning(record)) signal(record.pid, 'SIGKILL');
  await waitGone(record, timeoutMs);
  return 'killed';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Polls /proc (the process is not our child: no exit event reaches us) until it is gone. */
async function waitGone(record: ProcessRecord, timeoutMs: number): Promise<boolean> {
  for (let waited = 0; waited < timeoutMs; waited += STOP_POLL_MS) {
    if (!(await isRunning(record))) return true;
    await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS));
  }
  return !(await isRunning(record));
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
export async function logTail(path: string, lines = 12): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
