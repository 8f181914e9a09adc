import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Runs real `nats-server` processes: the local server of `strata server`, the servers of the
 * integration and chaos tests, and the clusters of the benchmarks. Everything binds to loopback
 * on free ports; readiness is a signal (the monitoring endpoint's /healthz answering ok and the
 * client port accepting connections), never a fixed sleep. Processes are only ever signalled by
 * their own PID, and any still running when this Node process exits are killed with it.
 */

const HOST = '127.0.0.1';
const DEFAULT_BINARY_PATHS = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'];
const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_TIMEOUT_MS = 15_000;
const LOG_TAIL_LINES = 50;

/** What must not outlive this Node process: a server's child process and its temp dir. */
interface Leftover {
  readonly child: () => ChildProcess | undefined;
  readonly workDir: string;
}

// Servers not stopped when this process exits are killed (by their own PID) and their temp dirs
// removed. One registry per process, even when a test runner loads this module more than once.
const REGISTRY = Symbol.for('strata.bus.nats-server.leftovers');
const leftovers: Set<Leftover> = (() => {
  const holder = process as unknown as Record<symbol, Set<Leftover> | undefined>;
  const existing = holder[REGISTRY];
  if (existing !== undefined) {
    return existing;
  }
  const registry = new Set<Leftover>();
  holder[REGISTRY] = registry;
  process.once('exit', () => {
    for (const { child, workDir } of registry) {
      const running = child();
      if (running !== undefined && running.exitCode === null && running.signalCode === null) {
        running.kill('SIGKILL');
      }
      rmSync(workDir, { recursive: true, force: true });
    }
  });
  return registry;
})();

export interface NatsClusterOptions {
  /** The cluster's name; every node of one cluster has the same. */
  readonly name: string;
  /** Port for route connections; a free one when absent. */
  readonly port?: number;
  /** Route URLs of the other nodes, e.g. `nats-route://127.0.0.1:6222`. */
  readonly routes: readonly string[];
}

export interface NatsServerOptions {
  /** Unique per cluster (JetStream requires it); a generated one when absent. */
  readonly name?: string;
  /** Enable JetStream with its files under `storeDir`. */
  readonly jetstream?: boolean;
  /** JetStream's store directory. Default: a directory inside the server's own temp dir. */
  readonly storeDir?: string;
  readonly cluster?: NatsClusterOptions;
  /** Client port; a free one when absent. */
  readonly port?: number;
  /** Monitoring (HTTP) port; a free one when absent. */
  readonly monitorPort?: number;
  /** Extra configuration text appended to the generated file (accounts, limits, ...). */
  readonly config?: string;
  /** The nats-server binary. Default: $NATS_SERVER_BIN, /usr/sbin/nats-server, then the PATH. */
  readonly binary?: string;
  /** How long to wait for the server to become ready. */
  readonly readyTimeoutMs?: number;
  /**
   * Run the server in its own process group, so a terminal's Ctrl-C reaches only its parent,
   * which stops it last (`strata server`). Default false: tests want it to die with the group.
   */
  readonly detached?: boolean;
}

export class NatsServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NatsServerError';
  }
}

/** One nats-server child process, its generated config and its temp dir. */
export class NatsServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly logTail: string[] = [];
  private removed = false;
  private readonly leftover: Leftover;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly monitorPort: number,
    /** Route port, when the server is part of a cluster. */
    readonly clusterPort: number | undefined,
    /** JetStream's store directory, when JetStream is on. */
    readonly storeDir: string | undefined,
    /** Holds the config file (and the default store dir); removed by `stop()`. */
    readonly workDir: string,
    private readonly binary: string,
    private readonly configFile: string,
    private readonly readyTimeoutMs: number,
    private readonly detached: boolean,
  ) {
    this.leftover = { child: () => this.child, workDir };
  }

  /**
   * Writes a config for `options`, spawns the server and waits until it is ready. Ports left to
   * choose are free loopback ports; if another process takes one before the server binds it, the
   * start is tried again with new ones.
   */
  static async start(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
    const choosesPorts = options.port === undefined || options.monitorPort === undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsServerProcess.startOnce(options);
      } catch (error) {
        const portTaken =
          error instanceof NatsServerError && /address already in use/.test(error.message);
        if (!portTaken || !choosesPorts || attempt >= 3) {
          throw error;
        }
      }
    }
  }

  private static async startOnce(options: NatsServerOptions): Promise<NatsServerProcess> {
    const binary = options.binary ?? findNatsServerBinary();
    const workDir = await mkdtemp(join(tmpdir(), 'strata-nats-'));
    try {
      const free = await freePorts(options.cluster?.port === undefined ? 3 : 2);
      const port = options.port ?? free[0];
      const monitorPort = options.monitorPort ?? free[1];
      const name = options.name ?? `strata-${monitorPort}`;
      const storeDir = options.jetstream
        ? (options.storeDir ?? join(workDir, 'jetstream'))
        : undefined;
      const configFile = join(workDir, 'nats-server.conf');
      const cluster =
        options.cluster === undefined
          ? undefined
          : { ...options.cluster, port: options.cluster.port ?? free[2] };
      await writeFile(
        configFile,
        renderConfig({ name, port, monitorPort, storeDir, cluster, extra: options.config }),
      );
      const server = new NatsServerProcess(
        name,
        port,
        monitorPort,
        cluster?.port,
        storeDir,
        workDir,
        binary,
        configFile,
        options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        options.detached ?? false,
      );
      await server.restart();
      return server;
    } catch (error) {
      await rm(workDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  get url(): string {
    return `nats://${HOST}:${this.port}`;
  }

  get monitorUrl(): string {
    return `http://${HOST}:${this.monitorPort}`;
  }

  /** Route URL other cluster nodes use to reach this one. */
  get routeUrl(): string | undefined {
    return this.clusterPort === undefined ? undefined : `nats-route://${HOST}:${this.clusterPort}`;
  }

  /** PID of the running process; undefined once it has exited. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /**
   * Starts the process again with the same config, ports and store (after `kill9()`, to test
   * recovery), and waits until it is ready. A no-op while it runs.
   */
  async restart(): Promise<void> {
    if (this.running) {
      return;
    }
    if (this.removed) {
      throw new NatsServerError(`nats-server ${this.name} was stopped and its files removed`);
    }
    leftovers.add(this.leftover);
    const child = spawn(this.binary, ['-c', this.configFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: this.detached,
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.keepLog(chunk));
    try {
      await spawned;
    } catch (error) {
      throw new NatsServerError(`cannot run ${this.binary}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      await this.waitUntilReady();
    } catch (error) {
      await this.signal('SIGKILL');
      throw error;
    }
  }

  /** Graceful shutdown (SIGTERM), waiting for the exit; then removes the temp dir. Idempotent. */
  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    if (this.running) {
      await this.signal('SIGTERM', timeoutMs);
    }
    // A server that ignores SIGTERM past the deadline is killed rather than leaked.
    if (this.running) {
      await this.signal('SIGKILL');
    }
    if (!this.removed) {
      this.removed = true;
      leftovers.delete(this.leftover);
      await rm(this.workDir, { recursive: true, force: true });
    }
  }

  /** Crashes the server (SIGKILL) and waits for the exit. Its files stay, so it can restart. */
  async kill9(): Promise<void> {
    if (this.running) {
      await this.signal('SIGKILL');
    }
  }

  /** The last lines the server logged, for error messages. */
  recentLog(): string {
    return this.logTail.join('\n');
  }

  /** Sends `signal` to this process's own PID and waits for the exit (up to `timeoutMs`). */
  private async signal(signal: NodeJS.Signals, timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined) {
      return;
    }
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([this.exited, deadline]);
    clearTimeout(timer);
  }

  private keepLog(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line.length > 0) {
        this.logTail.push(line);
      }
    }
    this.logTail.splice(0, Math.max(0, this.logTail.length - LOG_TAIL_LINES));
  }

  /**
   * Ready = /healthz answers 200 (JetStream up and, in a cluster, a meta leader known) and the
   * client port accepts a connection. Polls with a short backoff; fails fast if the process exits.
   */
  private async waitUntilReady(): Promise<void> {
    const deadline = performance.now() + this.readyTimeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    let lastProblem = 'not answering yet';
    for (let attempt = 0; ; attempt++) {
      if (exited) {
        throw new NatsServerError(
          `nats-server ${this.name} exited during startup (${this.child?.exitCode ?? this.child?.signalCode}):\n${this.recentLog()}`,
        );
      }
      const problem = await this.readinessProblem();
      if (problem === undefined) {
        return;
      }
      lastProblem = problem;
      if (performance.now() > deadline) {
        throw new NatsServerError(
          `nats-server ${this.name} not ready after ${this.readyTimeoutMs} ms (${lastProblem}):\n${this.recentLog()}`,
        );
      }
      await Promise.race([this.exited, pause(Math.min(5 * 2 ** attempt, 100))]);
    }
  }

  /** Why the server is not ready yet, or undefined when it is. */
  private async readinessProblem(): Promise<string | undefined> {
    try {
      const response = await fetch(`${this.monitorUrl}/healthz`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (response.status !== 200) {
        return `healthz ${response.status}: ${(await response.text()).trim()}`;
      }
      await response.body?.cancel();
    } catch (error) {
      return `healthz: ${(error as Error).message}`;
    }
    return (await canConnect(this.port)) ? undefined : 'client port not accepting connections';
  }
}

export interface StartClusterOptions {
  /** Default 'strata'. */
  readonly name?: string;
  /** Default true: a JetStream cluster. */
  readonly jetstream?: boolean;
  /** Extra configuration text for every node. */
  readonly config?: string;
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
}

/** N nats-server processes on loopback, each routed to all the others. */
export class NatsCluster {
  private constructor(readonly servers: readonly NatsServerProcess[]) {}

  /**
   * Starts `size` nodes (named `<name>-1` ... `<name>-N`) and waits until every one is ready;
   * with JetStream that includes an elected meta leader.
   */
  static async start(size: number, options: StartClusterOptions = {}): Promise<NatsCluster> {
    if (!Number.isInteger(size) || size < 1) {
      throw new NatsServerError(`a cluster needs at least one node, not ${size}`);
    }
    const name = options.name ?? 'strata';
    // Route ports are fixed up front: each node's config lists the others'.
    const routePorts = await freePorts(size);
    const started = await Promise.allSettled(
      routePorts.map((port, i) =>
        NatsServerProcess.start({
          name: `${name}-${i + 1}`,
          jetstream: options.jetstream ?? true,
          cluster: {
            name,
            port,
            routes: routePorts.filter((_, j) => j !== i).map((p) => `nats-route://${HOST}:${p}`),
          },
          config: options.config,
          binary: options.binary,
          readyTimeoutMs: options.readyTimeoutMs,
        }),
      ),
    );
    const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(servers.map((s) => s.stop()));
      throw failure.reason;
    }
    return new NatsCluster(servers);
  }

  /** Client URLs of every node, for a client's server list. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** The node with this server name (as JetStream reports leaders and peers). */
  server(name: string): NatsServerProcess {
    const server = this.servers.find((s) => s.name === name);
    if (server === undefined) {
      throw new NatsServerError(`no server named ${name} in this cluster`);
    }
    return server;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/** Shorthand for `NatsCluster.start(size, options)`. */
export function startCluster(size: number, options?: StartClusterOptions): Promise<NatsCluster> {
  return NatsCluster.start(size, options);
}

/** $NATS_SERVER_BIN, a usual install path, or the first `nats-server` on the PATH. */
export function findNatsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    return fromEnv;
  }
  const onPath = (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'nats-server'));
  const found = [...DEFAULT_BINARY_PATHS, ...onPath].find((path) => existsSync(path));
  if (found === undefined) {
    throw new NatsServerError('nats-server not found: install it or set NATS_SERVER_BIN');
  }
  return found;
}

interface ConfigParts {
  readonly name: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string | undefined;
  readonly cluster: (NatsClusterOptions & { port: number }) | undefined;
  readonly extra: string | undefined;
}

function renderConfig(parts: ConfigParts): string {
  const lines = [
    `server_name: ${JSON.stringify(parts.name)}`,
    `listen: "${HOST}:${parts.port}"`,
    `http: "${HOST}:${parts.monitorPort}"`,
  ];
  if (parts.storeDir !== undefined) {
    lines.push(`jetstream { store_dir: ${JSON.stringify(parts.storeDir)} }`);
  }
  if (parts.cluster !== undefined) {
    lines.push(
      'cluster {',
      `  name: ${JSON.stringify(parts.cluster.name)}`,
      `  listen: "${HOST}:${parts.cluster.port}"`,
      `  routes: [${parts.cluster.routes.map((r) => JSON.stringify(r)).join(', ')}]`,
      '}',
    );
  }
  if (parts.extra !== undefined) {
    lines.push(parts.extra);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `count` distinct free loopback ports. The probe listeners stay open until all are chosen, so
 * one call never returns a port twice. Another process may still take a port before nats-server
 * binds it; the server then exits with "address already in use".
 */
async function freePorts(count: number): Promise<number[]> {
  const listeners: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const listener = createServer();
      listeners.push(listener);
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(0, HOST, resolve);
      });
      const address = listener.address();
      if (address === null || typeof address === 'string') {
        throw new NatsServerError('could not read the port of a probe listener');
      }
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(listeners.map((l) => new Promise((resolve) => l.close(resolve))));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.setTimeout(2_000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
