import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'nats';

// `strata server` as a user runs it: the built CLI as a child process, a real nats-server that
// it starts and stops, real SQLite and real credentials in a temp data dir. Readiness is waited
// on by polling /readyz a bounded number of times (a signal, not a sleep). Only processes this
// test started (the server, and the nats-server it reports) are ever signalled, by PID.

jest.setTimeout(120_000);

const root = resolve(__dirname, '../..');
const cli = join(root, 'bin/strata');
const built = join(root, 'dist/services/cli/src/main.js');
const dataDir = mkdtempSync(join(tmpdir(), 'strata-server-e2e-'));
const credentialsDir = join(dataDir, 'credentials');

interface ServerInfo {
  pid: number;
  natsUrl: string;
  natsPid: number | null;
  healthUrl: string;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion; never throws on a non-zero exit (tests check `code`). */
function strata(...args: string[]): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(cli, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI against the test's server and expects success. */
async function ok(...args: string[]): Promise<string> {
  const run = await strata(...args, '--data-dir', dataDir);
  if (run.code !== 0) {
    throw new Error(`strata ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  }
  return run.stdout;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A `strata server` child process and what it printed. */
class ServerProcess {
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.output.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.output.push(chunk));
    this.exited = new Promise((done) =>
      child.once('exit', (code, signal) => done({ code, signal })),
    );
  }

  static start(healthPort: number): ServerProcess {
    const child = spawn(
      cli,
      ['server', '--data-dir', dataDir, '--health-port', String(healthPort), '--http-port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new ServerProcess(child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Polls GET /readyz, at most `attempts` times, until 200; fails early if the process exits. */
  async waitReady(healthUrl: string, attempts = 300): Promise<unknown> {
    let last = 'no answer';
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!this.running) {
        throw new Error(`strata server exited before ready:\n${this.output.join('')}`);
      }
      try {
        const response = await fetch(`${healthUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
        const body = (await response.json()) as unknown;
        if (response.status === 200) return body;
        last = `${response.status} ${JSON.stringify(body)}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    throw new Error(`not ready after ${attempts} polls (${last}):\n${this.output.join('')}`);
  }

  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    return this.exited;
  }
}

function serverInfo(): ServerInfo {
  return JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as ServerInfo;
}

let healthPort: number;
let healthUrl: string;
let server: ServerProcess | undefined;
const natsPids: number[] = [];
// Set by the allocation test: pod-a's released address, pod-b's held one.
let released: string;
let held: string;

beforeAll(async () => {
  if (!existsSync(built)) {
    throw new Error(`${built} is missing: run \`npm run build\` before the e2e tests`);
  }
  healthPort = await freePort();
  healthUrl = `http://127.0.0.1:${healthPort}`;
  server = ServerProcess.start(healthPort);
  await server.waitReady(healthUrl);
  natsPids.push(serverInfo().natsPid!);
});

afterAll(async () => {
  // Only what this test started, by PID: the server, then the nats-server it reported.
  if (server?.running) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  for (const pid of natsPids) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('strata server (as a user runs it)', () => {
  it('is live and ready, with every component named in /readyz', async () => {
    const live = await fetch(`${healthUrl}/healthz`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${healthUrl}/readyz`);
    expect(ready.status).toBe(200);
    const report = (await ready.json()) as { ready: boolean; checks: { name: string }[] };
    expect(report.ready).toBe(true);
    expect(report.checks.map((check) => check.name)).toEqual([
      'nats-server',
      'store',
      'relay',
      'ipam',
      'config',
      'discovery',
      'policy',
      'analytics',
    ]);
  });

  it('writes server.json so the CLI finds it', () => {
    const info = serverInfo();
    expect(info.pid).toBe(server!.child.pid);
    expect(info.healthUrl).toBe(healthUrl);
    expect(info.natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(info.natsPid).not.toBeNull();
    expect(isAlive(info.natsPid!)).toBe(true);
  });

  it('generated the credentials on first start, owner-only', () => {
    expect(statSync(credentialsDir).mode & 0o777).toBe(0o700);
    const files = readdirSync(credentialsDir).sort();
    expect(files).toEqual(
      expect.arrayContaining(['admin.nk', 'ipam.nk', 'relay.nk', 'http-token', 'nats-auth.conf']),
    );
    for (const file of files) {
      expect([file, statSync(join(credentialsDir, file)).mode & 0o777]).toEqual([file, 0o600]);
    }
  });

  it('refuses a NATS connection without credentials', async () => {
    await expect(connect({ servers: serverInfo().natsUrl })).rejects.toMatchObject({
      code: 'AUTHORIZATION_VIOLATION',
    });
  });

  it('creates, lists and shows pools, as a table and as JSON', async () => {
    const created = await ok('pools', 'create', 'blue', '--cidr', '10.20.0.0/24');
    expect(created).toMatch(/^NAME\s+KIND\s+CIDR\s+SEGMENT\s+SHARDS\s+RESERVED$/m);
    expect(created).toMatch(
      /^blue\s+pod\s+10\.20\.0\.0\/24\s+-\s+\d+\s+10\.20\.0\.0, 10\.20\.0\.255$/m,
    );

    const listed = JSON.parse(await ok('pools', 'list', '-o', 'json')) as {
      pools: { poolId: string; cidr: string; kind: string }[];
    };
    expect(listed.pools).toEqual([
      expect.objectContaining({ poolId: 'blue', cidr: '10.20.0.0/24', kind: 'pod' }),
    ]);
    expect(await ok('pools', 'show', 'blue')).toMatch(/^blue\s+pod\s+10\.20\.0\.0\/24/m);
  });

  it('allocates and releases addresses, and tells who held one and when', async () => {
    const first = await ok('ipam', 'allocate', '--pool', 'blue', '--owner', 'pod-a');
    expect(first).toMatch(/^ADDRESS\s+POOL\s+OWNER\s+SHARD$/m);
    const address = /^(10\.20\.0\.\d+)\s+blue\s+pod-a\s/m.exec(first)?.[1];
    expect(address).toBeDefined();
    released = address!;

    const second = JSON.parse(
      await ok('ipam', 'allocate', '--pool', 'blue', '--owner', 'pod-b', '-o', 'json'),
    ) as { address: string; owner: string; poolId: string };
    expect(second).toMatchObject({ poolId: 'blue', owner: 'pod-b' });
    expect(second.address).not.toBe(address);
    held = second.address;

    expect(await ok('ipam', 'release', '--pool', 'blue', '--owner', 'pod-a')).toMatch(
      new RegExp(`^blue\\s+pod-a\\s+${address!.replace(/\./g, '\\.')}$`, 'm'),
    );

    const table = await ok('ipam', 'history', address!);
    expect(table).toMatch(/^ADDRESS\s+POOL\s+OWNER\s+FROM\s+TO$/m);
    expect(table).toMatch(/\s+blue\s+pod-a\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z$/m);
    const history = JSON.parse(await ok('ipam', 'history', address!, '-o', 'json')) as {
      address: string;
      holders: { owner: string; from: string; to: string | null }[];
    };
    expect(history.address).toBe(address);
    expect(history.holders).toHaveLength(1);
    expect(history.holders[0].owner).toBe('pod-a');
    expect(Date.parse(history.holders[0].to!)).toBeGreaterThanOrEqual(
      Date.parse(history.holders[0].from),
    );

    const holding = JSON.parse(await ok('ipam', 'history', second.address, '-o', 'json')) as {
      holders: { owner: string; to: string | null }[];
    };
    expect(holding.holders).toEqual([expect.objectContaining({ owner: 'pod-b', to: null })]);
  });

  it('reports readiness with `strata status`', async () => {
    const table = await ok('status');
    expect(table).toMatch(/: ready$/m);
    expect(table).toMatch(/^ipam\s+yes\s+subscribed$/m);
    const json = JSON.parse(await ok('status', '-o', 'json')) as { ready: boolean; pid: number };
    expect(json).toMatchObject({ ready: true, pid: server!.child.pid });
  });

  it('creates segments through the config service, with a VNI from IPAM', async () => {
    const created = JSON.parse(
      await ok(
        'segments',
        'create',
        'web',
        '--name',
        'web',
        '--subnet',
        '10.30.0.0/16',
        '-o',
        'json',
      ),
    ) as { segmentId: string; subnets: string[]; vni: number };
    expect(created).toMatchObject({ segmentId: 'web', subnets: ['10.30.0.0/16'] });
    expect(created.vni).toBeGreaterThan(0);
    expect(await ok('segments', 'list')).toMatch(/^web\s.*10\.30\.0\.0\/16/m);

    const overlapping = await strata(
      'segments',
      'create',
      'api',
      '--name',
      'api',
      '--subnet',
      '10.30.7.0/24',
      '--data-dir',
      dataDir,
    );
    expect(overlapping.code).toBe(1);
    expect(overlapping.stderr).toMatch(/^strata: OverlappingCidr: /);
  });

  it('passes a service error on with its code and a non-zero exit', async () => {
    const run = await strata('pools', 'show', 'nope', '--data-dir', dataDir);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('strata: NotFound: pool nope not found');
  });

  it.each([
    [['pools', 'create', 'x', '--cidr', '10.0.0.0/33'], /^strata: InvalidCidr: --cidr /],
    [
      ['pools', 'create', '--cidr', '10.0.0.0/24'],
      /^strata: InvalidArgument: missing required argument 'name'/,
    ],
    [['pools', 'create', 'bad name', '--cidr', '10.0.0.0/24'], /^strata: InvalidId: pool name /],
    [
      ['ipam', 'allocate', '--pool', 'blue', '--owner', 'p', '--address', '10.0.0.256'],
      /^strata: InvalidIp: --address /,
    ],
    [['ipam', 'history', 'not-an-ip'], /^strata: InvalidIp: address /],
    [
      ['ipam', 'allocate', '--owner', 'p'],
      /^strata: InvalidArgument: required option '--pool <name>' not specified/,
    ],
    [
      ['pools', 'list', '-o', 'yaml'],
      /^strata: InvalidArgument: option '-o, --output <format>' argument 'yaml' is invalid/,
    ],
  ])('rejects a bad flag before any request: %j', async (args, message) => {
    // No server behind this data dir: the check must fail before the CLI looks for one.
    const run = await strata(...args, '--data-dir', join(dataDir, 'no-server-here'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('stops cleanly on SIGTERM, and a restart keeps the credentials and the allocations', async () => {
    const before = serverInfo();
    const seeds = Object.fromEntries(
      readdirSync(credentialsDir).map((file) => [
        file,
        readFileSync(join(credentialsDir, file), 'utf8'),
      ]),
    );
    const releasedHistory = await ok('ipam', 'history', released, '-o', 'json');
    const heldHistory = await ok('ipam', 'history', held, '-o', 'json');

    expect(await server!.terminate()).toEqual({ code: 0, signal: null });
    expect(isAlive(before.natsPid!)).toBe(false);
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
    expect(server!.output.join('')).toMatch(
      /stopped ipam[\s\S]*stopped relay[\s\S]*stopped store[\s\S]*stopped nats-server/,
    );
    const down = await strata('pools', 'list', '--data-dir', dataDir);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^strata: NotRunning: no strata server found/);

    server = ServerProcess.start(healthPort);
    await server.waitReady(healthUrl);
    const after = serverInfo();
    natsPids.push(after.natsPid!);
    expect(after.pid).toBe(server.child.pid);
    expect(
      Object.fromEntries(
        readdirSync(credentialsDir).map((file) => [
          file,
          readFileSync(join(credentialsDir, file), 'utf8'),
        ]),
      ),
    ).toEqual(seeds);

    // Nothing lost: the same history, and pod-b still holds its address (allocating to it
    // again returns that address; a new owner gets another one).
    expect(await ok('ipam', 'history', released, '-o', 'json')).toBe(releasedHistory);
    expect(await ok('ipam', 'history', held, '-o', 'json')).toBe(heldHistory);
    const pools = JSON.parse(await ok('pools', 'list', '-o', 'json')) as { pools: unknown[] };
    expect(pools.pools).toHaveLength(1);
    const again = JSON.parse(
      await ok('ipam', 'allocate', '--pool', 'blue', '--owner', 'pod-b', '-o', 'json'),
    ) as { address: string };
    expect(again.address).toBe(held);
    const next = JSON.parse(
      await ok('ipam', 'allocate', '--pool', 'blue', '--owner', 'pod-c', '-o', 'json'),
    ) as { address: string };
    expect(next.address).not.toBe(held);

    expect(await server.terminate()).toEqual({ code: 0, signal: null });
    expect(isAlive(after.natsPid!)).toBe(false);
  });
});
