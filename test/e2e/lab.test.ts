import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// `strata lab` as a user runs it: the built CLI builds a cluster of network namespaces on this
// machine (a bridge underlay, 2 nodes, pods behind them), a real `strata server` and a real agent
// per node programming the BPF dataplane. Traffic stays inside the lab's namespaces. Every lab
// is named after this test's PID, and `lab down` runs in afterAll whatever happened, so a
// failed run leaves nothing behind. Readiness and convergence are waited on by `lab up` itself
// (/readyz, then the agents' applied positions), and the echo server by its "listening" line.

jest.setTimeout(180_000);

const root = resolve(__dirname, '../..');
const built = join(root, 'dist/services/cli/src/main.js');
const dataDir = mkdtempSync(join(tmpdir(), 'strata-lab-e2e-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion; never throws on a non-zero exit (tests check `code`). */
function strata(args: readonly string[], timeout = 120_000): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [built, ...args],
      { timeout, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        done({ code, stdout, stderr });
      },
    );
  });
}

function run(file: string, args: readonly string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

function namespaces(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns') : [];
}

interface Status {
  name: string;
  phase: string;
  dataplane: string;
  mode: string;
  podSubnet: string;
  server: { pid: number; alive: boolean } | null;
  logHead: number | null;
  nodes: { name: string; namespace: string; present: boolean; underlayIp: string }[];
  agents: {
    node: string;
    pid: number;
    alive: boolean;
    registered: boolean | null;
    appliedPosition: number | null;
    localEndpoints: number | null;
    remoteEndpoints: number | null;
    drops: Record<string, number> | null;
  }[];
  pods: { name: string; node: string; ip: string; mac: string; namespace: string }[];
}

/** One lab for a describe block: up before its tests, down after them, whatever happened. */
function useLab(name: string, upFlags: readonly string[]) {
  const at = ['--name', name, '--data-dir', dataDir];
  const lab = {
    name,
    prefix: `stl-${name}-`,
    up: undefined as Run | undefined,
    at,
    async status(): Promise<Status> {
      const result = await strata(['lab', 'status', ...at, '-o', 'json']);
      if (result.code !== 0) throw new Error(`lab status exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as Status;
    },
    exec(pod: string, command: readonly string[]): Promise<Run> {
      return strata(['lab', 'exec', ...at, pod, '--', ...command], 60_000);
    },
    pod(status: Status, name: string) {
      const pod = status.pods.find((candidate) => candidate.name === name);
      if (pod === undefined) throw new Error(`no pod ${name} in ${JSON.stringify(status.pods)}`);
      return pod;
    },
  };
  beforeAll(async () => {
    if (!existsSync(built)) {
      throw new Error(`${built} is missing: run \`npm run build\` before the e2e tests`);
    }
    if (process.getuid?.() !== 0) {
      throw new Error('the lab e2e test makes network namespaces and BPF pins: run it as root');
    }
    lab.up = await strata(['lab', 'up', ...at, ...upFlags]);
    if (lab.up.code !== 0) {
      throw new Error(`lab up exited ${lab.up.code}:\n${lab.up.stdout}\n${lab.up.stderr}`);
    }
  });
  afterAll(async () => {
    const down = await strata(['lab', 'down', ...at]);
    if (down.code !== 0) throw new Error(`lab down exited ${down.code}: ${down.stderr}`);
  });
  return lab;
}

/**
 * A one-connection TCP echo server in `server`'s pod (node, by absolute path: the pods share
 * the host's file system), a client in `client`'s pod sending `bytes`; resolves with what the
 * client printed. The server is waited on by its "listening" line, and exits after one client
 * (or after 60 s, so it never outlives the test).
 */
async function tcpEcho(
  lab: ReturnType<typeof useLab>,
  server: { name: string; ip: string },
  client: string,
  bytes: number,
): Promise<string> {
  const serverScript =
    `const s = require('net').createServer((c) => { c.pipe(c); c.on('end', () => s.close()); });` +
    `s.listen(7000, '${server.ip}', () => console.log('listening'));` +
    `setTimeout(() => process.exit(2), 60000).unref();`;
  const child = spawn(
    process.execPath,
    [built, 'lab', 'exec', ...lab.at, server.name, '--', process.execPath, '-e', serverScript],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let output = '';
  await new Promise<void>((listening, failed) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('listening')) listening();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    void exited.then((code) => failed(new Error(`echo server exited ${code}: ${output}`)));
  });
  const clientScript =
    `const c = require('net').connect(7000, '${server.ip}', () => c.end(Buffer.alloc(${bytes}, 7)));` +
    `let n = 0; c.on('data', (d) => { n += d.length; });` +
    `c.on('end', () => console.log('echoed ' + n));` +
    `setTimeout(() => { console.log('stalled at ' + n); process.exit(3); }, 45000).unref();`;
  const result = await lab.exec(client, [process.execPath, '-e', clientScript]);
  const code = await exited;
  // Both sides in one object, so a failure shows what each printed, and the agents' drops.
  const drops = (await lab.status()).agents.map((agent) => [agent.node, agent.drops]);
  expect({ client: result, server: { code, output }, drops }).toMatchObject({
    client: { code: 0 },
    server: { code: 0 },
  });
  return result.stdout.trim();
}

describe('strata lab, TC mode: 2 nodes x 2 pods on the BPF dataplane', () => {
  const lab = useLab(`e2e${process.pid}`, ['--nodes', '2', '--pods', '2', '--mode', 'tc']);

  it('reports its nodes, pods and agents as JSON, every agent caught up', async () => {
    const status = await lab.status();
    expect(status).toMatchObject({ name: lab.name, phase: 'ready', dataplane: 'bpf', mode: 'tc' });
    expect(status.server?.alive).toBe(true);
    expect(status.nodes.map((node) => [node.name, node.namespace, node.present])).toEqual([
      ['n1', `${lab.prefix}n1`, true],
      ['n2', `${lab.prefix}n2`, true],
    ]);
    expect(status.pods.map((pod) => [pod.name, pod.node, pod.namespace])).toEqual([
      ['n1p1', 'n1', `${lab.prefix}n1p1`],
      ['n1p2', 'n1', `${lab.prefix}n1p2`],
      ['n2p1', 'n2', `${lab.prefix}n2p1`],
      ['n2p2', 'n2', `${lab.prefix}n2p2`],
    ]);
    const [network] = status.podSubnet.split('.0.0/16');
    for (const pod of status.pods) {
      expect(pod.ip.startsWith(`${network}.`)).toBe(true);
      const bytes = pod.ip.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0'));
      expect(pod.mac).toBe(`0a:58:${bytes.join(':')}`);
    }
    expect(new Set(status.pods.map((pod) => pod.ip)).size).toBe(4);
    for (const agent of status.agents) {
      expect(agent).toMatchObject({ alive: true, registered: true });
      expect(agent.localEndpoints).toBe(2);
      expect(agent.remoteEndpoints).toBe(2);
      // `lab up` returned once every agent applied the log's head; heartbeats may follow.
      expect(agent.appliedPosition).toBeGreaterThan(0);
    }
    expect(status.logHead).toBeGreaterThanOrEqual(
      Math.max(...status.agents.map((agent) => agent.appliedPosition ?? 0)),
    );
  });

  it('prints the same as tables', async () => {
    const result = await strata(['lab', 'status', ...lab.at]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^POD\s+NODE\s+IP\s+MAC/m);
    expect(result.stdout).toMatch(/^AGENT\s+PID\s+ALIVE/m);
    expect(result.stdout).toMatch(/^n2p2\s+n2\s+10\./m);
  });

  it('runs a command in a pod: its /32 on eth0, MTU 1450, default route via the gateway', async () => {
    const pod = lab.pod(await lab.status(), 'n1p1');
    const address = await lab.exec('n1p1', ['ip', '-4', 'addr', 'show', 'dev', 'eth0']);
    expect(address.code).toBe(0);
    expect(address.stdout).toContain(`inet ${pod.ip}/32`);
    expect(address.stdout).toContain('mtu 1450');
    const routes = await lab.exec('n1p1', ['ip', '-4', 'route']);
    expect(routes.stdout).toMatch(/^default via 169\.254\.1\.1 dev eth0 .*onlink/m);
  });

  it("forwards the command's exit code", async () => {
    expect((await lab.exec('n2p2', ['sh', '-c', 'exit 3'])).code).toBe(3);
    const missing = await lab.exec('n9p9', ['true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('PodNotFound');
  });

  it('pings between pods on different nodes and on one node', async () => {
    const status = await lab.status();
    for (const [from, to] of [
      ['n1p1', 'n2p1'],
      ['n2p2', 'n1p2'],
      ['n1p1', 'n1p2'],
    ]) {
      const ping = await lab.exec(from, ['ping', '-c', '3', '-W', '2', lab.pod(status, to).ip]);
      expect({ from, to, code: ping.code, out: ping.stdout }).toMatchObject({ code: 0 });
      expect(ping.stdout).toContain('3 received');
    }
  });

  it('carries TCP between pods on different nodes (past one MTU, so GSO is used)', async () => {
    const server = lab.pod(await lab.status(), 'n2p1');
    expect(await tcpEcho(lab, server, 'n1p1', 1_000_000)).toBe('echoed 1000000');
  });

  it('leaves the node namespaces without a kernel route to remote pods', async () => {
    const status = await lab.status();
    const node = status.nodes[0];
    const routes = await run('ip', ['-n', node.namespace, '-4', 'route', 'show', 'table', 'all']);
    for (const pod of status.pods.filter((p) => p.node !== node.name)) {
      expect(routes.stdout).not.toContain(pod.ip);
      const lookup = await run('ip', ['-n', node.namespace, 'route', 'get', pod.ip]);
      expect(lookup.code).not.toBe(0);
      expect(lookup.stderr).toContain('unreachable');
    }
  });

  it('refuses a second lab with the same name', async () => {
    const again = await strata(['lab', 'up', ...lab.at, '--nodes', '1', '--pods', '0']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('LabExists');
  });

  it('goes down completely, by PID and by name, and again without complaint', async () => {
    const status = await lab.status();
    const pids = [status.server!.pid, ...status.agents.map((agent) => agent.pid)];
    const down = await strata(['lab', 'down', ...lab.at]);
    expect(down.code).toBe(0);
    expect(namespaces().filter((ns) => ns.startsWith(lab.prefix))).toEqual([]);
    expect(readdirSync('/sys/fs/bpf').filter((entry) => entry.startsWith(lab.prefix))).toEqual([]);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const again = await strata(['lab', 'down', ...lab.at]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing left to remove');
    const gone = await strata(['lab', 'status', ...lab.at]);
    expect(gone.stderr).toContain('LabNotFound');
  });
});

describe('strata lab, XDP mode: 2 nodes x 1 pod', () => {
  const lab = useLab(`e2e${process.pid}x`, ['--nodes', '2', '--pods', '1', '--mode', 'xdp']);

  it('pings and carries TCP between the nodes', async () => {
    const status = await lab.status();
    expect(status.mode).toBe('xdp');
    const server = lab.pod(status, 'n2p1');
    const ping = await lab.exec('n1p1', ['ping', '-c', '3', '-W', '2', server.ip]);
    expect(ping.stdout).toContain('3 received');
    expect(await tcpEcho(lab, server, 'n1p1', 1_000_000)).toBe('echoed 1000000');
  });
});

/** Running, and not a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});
