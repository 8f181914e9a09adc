import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * One IPAM replica as its own process (the compiled `main.js`), for the chaos test and the
 * benchmark: started with a NATS URL and a SQLite file, ready when it prints its ready line,
 * killed only by its own PID.
 */
export class IpamReplicaProcess {
  private readonly exited: Promise<void>;
  private readonly output: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Spawns a replica and waits (up to `readyTimeoutMs`) for `ipam ready`. */
  static async start(options: {
    natsUrl: string;
    store: string;
    readyTimeoutMs?: number;
  }): Promise<IpamReplicaProcess> {
    const main = compiledIpamMain();
    const child = spawn(
      process.execPath,
      [main, '--nats', options.natsUrl, '--store', options.store],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const replica = new IpamReplicaProcess(child);
    liveReplicas.add(child);
    void replica.exited.then(() => liveReplicas.delete(child));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `IPAM replica not ready after ${options.readyTimeoutMs ?? 20_000} ms:\n${replica.log()}`,
            ),
          ),
        options.readyTimeoutMs ?? 20_000,
      );
      const onData = (chunk: Buffer) => {
        replica.keep(chunk);
        if (replica.log().includes('ipam ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => replica.keep(chunk));
      void replica.exited.then(() => {
        clearTimeout(timer);
        reject(
          new Error(
            `IPAM replica exited during startup (${child.exitCode ?? child.signalCode}):\n${replica.log()}`,
          ),
        );
      });
    }).catch(async (error: unknown) => {
      await replica.kill9();
      throw error;
    });
    return replica;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the replica printed (stdout and stderr), for failure messages. */
  log(): string {
    return this.output.join('');
  }

  /** SIGKILL to this replica's own PID; resolves once it has exited. */
  async kill9(): Promise<void> {
    if (this.running) {
      process.kill(this.pid, 'SIGKILL');
      await this.exited;
    }
  }

  /** SIGTERM (graceful), then SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (!this.running) return;
    process.kill(this.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const outcome = await Promise.race([this.exited, deadline]);
    clearTimeout(timer);
    if (outcome === 'late') await this.kill9();
  }

  private keep(chunk: Buffer): void {
    this.output.push(chunk.toString('utf8'));
    if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
  }
}

/**
 * The compiled IPAM entry point, `dist/services/ipam/src/main.js`. Throws, saying what to run,
 * when it is missing or older than the sources it is built from (a stale build would test old
 * code).
 */
export function compiledIpamMain(): string {
  const root = repositoryRoot();
  const main = join(root, 'dist', 'services', 'ipam', 'src', 'main.js');
  if (!existsSync(main)) {
    throw new Error(
      `${main} is missing: run \`npm run build\` first (replicas run the compiled service)`,
    );
  }
  // What the replica's behaviour comes from (other library files change without touching it).
  const sources = [
    'services/ipam/src',
    'libs/bus/src/commands',
    'libs/bus/src/nest',
    'libs/eventstore/src/decider-runner.ts',
    'libs/eventstore/src/sqlite',
    'libs/domain/src',
  ];
  const stale = sources.flatMap((dir) => staleOutputs(root, dir));
  if (stale.length > 0) {
    throw new Error(
      `dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}: run \`npm run build\` first`,
    );
  }
  return main;
}

function repositoryRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'services'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no repository root above ${__dirname}`);
  }
}

/** Sources at `path` (a file or a directory) whose compiled file is missing or older. */
function staleOutputs(root: string, path: string): string[] {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  const files = statSync(full).isDirectory()
    ? readdirSync(full, { withFileTypes: true, recursive: true })
        .filter((entry) => entry.isFile())
        .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    : [path];
  return files
    .filter((source) => /(?<!\.spec|\.d)\.ts$/.test(source))
    .filter((source) => {
      const output = join(root, 'dist', source.replace(/\.ts$/, '.js'));
      return !existsSync(output) || statSync(output).mtimeMs < statSync(join(root, source)).mtimeMs;
    });
}

// Replicas still running when this process exits die with it (by their own PID).
const liveReplicas = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveReplicas) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
