import { afterAll, beforeAll } from '@jest/globals';
import type { AgentStatus } from '@strata/bus';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LabControl } from '../../services/cli/src/lab/control';
import { labDir, requireState, type LabState } from '../../services/cli/src/lab/lab-state';
import type { LabStatus } from '../../services/cli/src/lab/lab-status';
import { credentialsDir } from '../../services/cli/src/lab/processes';

/**
 * One `strata lab` for an e2e describe block, driven as a user drives it: the built CLI for
 * `lab up|exec|status|pod|agent|down` and the client commands, `nsenter --net=` and `bpftool`
 * for what a user would inspect on the machine, and the agents' status replies over NATS (as
 * `lab status` asks them, with every field). `lab up` runs in beforeAll; afterAll stops every
 * process the test spawned (by its PID, through `lab exec`, which passes signals on), then runs
 * `lab down` whatever happened, so a failed run leaves nothing behind.
 */

export const ROOT = resolve(__dirname, '../..');
export const BUILT_CLI = join(ROOT, 'dist/services/cli/src/main.js');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file args` to completion; never throws on a non-zero exit (tests check `code`). */
export function runFile(file: string, args: readonly string[], timeout = 60_000): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

/** The built CLI, as a user runs it. */
export function strata(args: readonly string[], timeout = 120_000): Promise<Run> {
  return runFile(process.execPath, [BUILT_CLI, ...args], timeout);
}

/** Fails with the command's output unless it exited 0; returns its stdout. */
export function succeeded(what: string, result: Run): string {
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** A long-running command in one of the lab's namespaces, its output collected as it comes. */
export interface LabProcess {
  /** Where it runs: a pod or node name. */
  readonly where: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** Resolves once the output matches `pattern`; rejects if the process exits or after `ms`. */
  waitFor(pattern: RegExp, ms: number): Promise<void>;
  /** Resolves once `count` lines of the output match `pattern`, under the same terms. */
  waitForLines(pattern: RegExp, count: number, ms: number): Promise<void>;
  /** Resolves with the exit code (128 + n for signal n, as `lab exec` reports it). */
  readonly exited: Promise<number | null>;
  /**
   * Sends `signal` (`lab exec` passes it on; nsenter execs its command, so that is the process)
   * and waits for the exit; SIGKILL after `ms`.
   */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
}

export type Lab = ReturnType<typeof useLab>;

export function useLab(options: { name: string; dataDir: string; upFlags: readonly string[] }) {
  const { name, dataDir } = options;
  const at = ['--name', name, '--data-dir', dataDir];
  const spawned = new Set<LabProcess>();
  const watch = (where: string, file: string, args: readonly string[]): LabProcess => {
    const started = watchProcess(where, file, args);
    spawned.add(started);
    void started.exited.then(() => spawned.delete(started));
    return started;
  };
  let control: LabControl | undefined;

  const lab = {
    name,
    prefix: `stl-${name}-`,
    at,
    dir: labDir(dataDir, name),
    /** The server's data dir: `--data-dir` of the client commands (server.json, credentials). */
    serverDataDir: join(labDir(dataDir, name), 'server'),

    async status(): Promise<LabStatus> {
      return JSON.parse(
        succeeded('lab status', await strata(['lab', 'status', ...at, '-o', 'json'])),
      );
    },

    /** lab.json, as the lab commands read it. */
    state(): Promise<LabState> {
      return requireState(dataDir, name);
    },

    exec(pod: string, command: readonly string[], timeout = 60_000): Promise<Run> {
      return strata(['lab', 'exec', ...at, pod, '--', ...command], timeout);
    },

    /** A client command against the lab's server (`strata segments show lab`, ...). */
    client(args: readonly string[]): Promise<Run> {
      return strata([...args, '--data-dir', lab.serverDataDir]);
    },

    /** `command` in a pod, through `strata lab exec`. */
    spawn(pod: string, command: readonly string[]): LabProcess {
      return watch(pod, process.execPath, [BUILT_CLI, 'lab', 'exec', ...at, pod, '--', ...command]);
    },

    /** `command` in a node's namespace, through `nsenter --net=`. */
    spawnInNode(node: string, command: readonly string[]): LabProcess {
      return watch(node, 'nsenter', [`--net=/run/netns/${lab.prefix}${node}`, ...command]);
    },

    /** Every agent's status reply, by node; a node whose agent does not answer is missing. */
    async agents(): Promise<Map<string, AgentStatus>> {
      const state = await lab.state();
      if (control === undefined) {
        const server = state.server;
        if (server?.natsUrl == null) throw new Error(`lab ${name} has no server`);
        control = await LabControl.open(server.natsUrl, credentialsDir(server));
      }
      const open = control;
      const statuses = await Promise.all(
        state.nodes.map(
          async (node) => [node.name, await open.agentStatus(node.name, 5_000)] as const,
        ),
      );
      return new Map(
        statuses.flatMap(([node, status]) => (status === undefined ? [] : [[node, status]])),
      );
    },

    /** A pinned BPF map of a node, read with bpftool: hex key -> hex value. */
    async map(node: string, map: string): Promise<Map<string, string>> {
      const state = await lab.state();
      const pins = state.nodes.find((candidate) => candidate.name === node)?.pinDir;
      if (pins === undefined) throw new Error(`lab ${name} has no node ${node}`);
      const dump = succeeded(
        `bpftool map dump ${map}`,
        await runFile('bpftool', ['-j', 'map', 'dump', 'pinned', join(pins, map)]),
      );
      const entries = JSON.parse(dump) as { key: string[]; value: string[] }[];
      const hex = (bytes: string[]) => bytes.map((byte) => byte.replace(/^0x/, '')).join('');
      return new Map(entries.map((entry) => [hex(entry.key), hex(entry.value)]));
    },

    /** `command` in a node's network namespace (nsenter --net=, as `lab exec` does for pods). */
    inNode(node: string, command: readonly string[]): Promise<Run> {
      return runFile('nsenter', [`--net=/run/netns/${lab.prefix}${node}`, ...command]);
    },
  };

  beforeAll(async () => {
    if (!existsSync(BUILT_CLI)) {
      throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` before the e2e tests`);
    }
    if (process.getuid?.() !== 0) {
      throw new Error('the lab e2e tests make network namespaces and BPF pins: run them as root');
    }
    succeeded('lab up', await strata(['lab', 'up', ...at, ...options.upFlags], 180_000));
  });

  afterAll(async () => {
    await Promise.all([...spawned].map((child) => child.stop('SIGTERM', 5_000)));
    await control?.close().catch(() => undefined);
    succeeded('lab down', await strata(['lab', 'down', ...at]));
  });

  return lab;
}

/** An IPv4 address as the hex of its 4 bytes, network order (the BPF maps' keys). */
export function ipKey(address: string): string {
  return Buffer.from(address.split('.').map(Number)).toString('hex');
}

/** Running, and not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function watchProcess(where: string, file: string, args: readonly string[]): LabProcess {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: string) => {
    output += chunk;
    for (const listener of listeners) listener();
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  const exited = new Promise<number | null>((done) => {
    child.once('exit', (code, signal) => done(code ?? (signal === null ? null : 128)));
    child.once('error', () => done(null));
  });
  const until = (test: () => boolean, what: string, ms: number) =>
    new Promise<void>((done, fail) => {
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      const check = () => {
        if (!test()) return;
        finish();
        done();
      };
      const timer = setTimeout(() => {
        finish();
        fail(new Error(`${where}: no ${what} within ${ms} ms; output:\n${output.slice(-2_000)}`));
      }, ms);
      void exited.then((code) => {
        if (!listeners.has(check)) return;
        finish();
        if (test()) done();
        else fail(new Error(`${where}: exited ${code} before ${what}; output:\n${output}`));
      });
      listeners.add(check);
      check();
    });
  return {
    where,
    child,
    output: () => output,
    waitFor: (pattern, ms) => until(() => pattern.test(output), String(pattern), ms),
    waitForLines: (pattern, count, ms) =>
      until(
        () => output.split('\n').filter((line) => pattern.test(line)).length >= count,
        `${count} lines matching ${pattern}`,
        ms,
      ),
    exited,
    async stop(signal = 'SIGTERM', ms = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((done) => {
          timer = setTimeout(() => done('timeout'), ms);
        }),
      ]);
      clearTimeout(timer);
      if (code !== 'timeout') return code;
      child.kill('SIGKILL');
      return exited;
    },
  };
}
