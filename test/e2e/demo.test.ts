import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// `strata demo` as `npm run demo` runs it: the built CLI brings up a 3-node lab (network
// namespaces, a real server, a BPF agent per node), sends traffic between its pods, prints
// tables and counters, and takes the lab down. Every lab is named after this test's PID, and
// afterAll runs `lab down` on each whatever happened, so a failed run leaves nothing behind.
// The interrupt test waits for the demo's own "== Ping" heading (a signal, not a sleep).
// The micro-segmentation scene's verdicts are read from its tables: a drop is a connect that got
// no answer, an allow one the target pod answered; the per-rule counters come from the agents.

jest.setTimeout(240_000);

const root = resolve(__dirname, '../..');
const cli = join(root, 'bin/strata');
const built = join(root, 'dist/services/cli/src/main.js');
const dir = mkdtempSync(join(tmpdir(), 'strata-demo-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion; never throws on a non-zero exit (tests check `code`). */
function strata(args: readonly string[], timeout = 30_000): Promise<Run> {
  return new Promise((done) => {
    execFile(cli, args, { timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

/** Names of namespaces and bpffs pin dirs that lab `name` may have made. */
function leftovers(name: string): string[] {
  const owned = (entry: string) => entry.startsWith(`stl-${name}-`);
  const list = (path: string) => (existsSync(path) ? readdirSync(path) : []);
  return [...list('/run/netns').filter(owned), ...list('/sys/fs/bpf').filter(owned)];
}

/** The lines of a demo section, from its `== Title ==` heading to the next heading. */
function section(stdout: string, title: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`== ${title}`));
  if (start < 0) throw new Error(`no section "${title}" in:\n${stdout}`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('== '));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** A table row's cells: columns are at least two spaces apart, cells hold single spaces. */
const cells = (line: string) => line.trim().split(/\s{2,}/);

/** The probe tables' rows: from, to, path, two rounds, what the policy says. */
const probeRows = (lines: readonly string[]) =>
  lines.filter((line) => /^n\dp\d \(/.test(line)).map(cells);

const PROBED = [
  ['n1p1 (web)', expect.stringMatching(/^n2p1 \(db\) [\d.]+:5432$/), 'n1 -> n2'],
  ['n2p2 (web)', expect.stringMatching(/^n3p2 \(db\) [\d.]+:5432$/), 'n2 -> n3'],
  ['n1p2 (api)', expect.stringMatching(/^n2p1 \(db\) [\d.]+:5432$/), 'n1 -> n2'],
  ['n3p1 (api)', expect.stringMatching(/^n3p2 \(db\) [\d.]+:5432$/), 'n3 (same node)'],
  ['n3p1 (api)', expect.stringMatching(/^n2p1 \(db\) [\d.]+:8080$/), 'n3 -> n2'],
  ['n1p1 (web)', expect.stringMatching(/^n3p1 \(api\) [\d.]+:8080$/), 'n1 -> n3'],
];

const labs: string[] = [];
const labName = (suffix: string) => {
  const name = `demo${suffix}${process.pid}`;
  labs.push(name);
  return name;
};

beforeAll(() => {
  if (!existsSync(built)) {
    throw new Error(`${built} is missing: run \`npm run build\` before the e2e tests`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error('the demo makes network namespaces and BPF pins: run it as root');
  }
});

afterAll(async () => {
  // The demo takes its lab down itself; this only matters when it did not.
  for (const name of labs) await strata(['lab', 'down', '--name', name, '--data-dir', dir]);
  rmSync(dir, { recursive: true, force: true });
});

describe('strata demo (the README command, as a user runs it)', () => {
  const name = labName('');
  let demo: Run;

  beforeAll(async () => {
    demo = await strata(['demo', '--name', name, '--data-dir', dir], 200_000);
  });

  it('brings up the lab, shows it in sections, and ends with the lab down and a pass', () => {
    expect({ code: demo.code, stderr: demo.stderr }).toEqual({ code: 0, stderr: '' });
    const headings = [...demo.stdout.matchAll(/^== (.+) ==$/gm)].map((m) => m[1].split(':')[0]);
    expect(headings).toEqual([
      'Lab',
      'Ping',
      'TCP echo',
      'Forwarding tables',
      'Dataplane counters',
      'Micro-segmentation',
      'Micro-segmentation',
      'Micro-segmentation',
      'Micro-segmentation',
      'Lab down',
    ]);
    expect(demo.stdout).toContain('every agent applied the log up to position');
    expect(
      section(demo.stdout, 'Lab:').filter((line) =>
        /^n\dp\d\s+n\d\s+\d+\.\d+\.\d+\.\d+\s/.test(line),
      ),
    ).toHaveLength(6);
    expect(demo.stdout).toMatch(
      /^demo passed: .*db takes TCP\/5432 from api only, a staged deny counted what it would deny and blocked nothing/m,
    );
    expect(demo.stdout).not.toContain('UNEXPECTED');
  });

  it('pings pods on other nodes, and on the same node, without loss', () => {
    const rows = section(demo.stdout, 'Ping').filter((line) => /^n\dp\d /.test(line));
    expect(rows.filter((row) => row.includes('(VXLAN)'))).toHaveLength(3);
    expect(rows.filter((row) => row.includes('(same node)'))).toHaveLength(1);
    for (const row of rows) expect(row).toMatch(/\s3\/3\s+0%\s+[\d.]+\/[\d.]+\/[\d.]+ ms$/);
  });

  it('echoes 1 MB over TCP between pods on different nodes', () => {
    const rows = section(demo.stdout, 'TCP echo').filter((line) => /^n\dp\d /.test(line));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/\(VXLAN\)\s+1000000 B\s+\d+ ms\s+ok$/);
  });

  it("prints each node's forwarding table, the same as its agent applied", () => {
    const lines = section(demo.stdout, 'Forwarding tables');
    for (const node of ['n1', 'n2', 'n3']) {
      const start = lines.findIndex((line) => line.startsWith(`${node} (VTEP `));
      expect(lines[start]).toMatch(/digest [0-9a-f]{12}, the same as its agent applied$/);
      expect(lines[start + 1]).toMatch(/^TABLE\s+KEY\s+POD\s+VIA\s+MAC\s+VNI\s+IDENTITY$/);
      const rows = lines.slice(start + 2, start + 10).map((line) => line.split(/\s+/));
      expect(rows.map((row) => row[0])).toEqual([
        'local',
        'local',
        'remote',
        'remote',
        'remote',
        'remote',
        'vtep',
        'vtep',
      ]);
      // Local pods are this node's; remote ones are behind the other nodes' VTEPs.
      for (const row of rows.slice(0, 2)) expect(row[2]).toMatch(new RegExp(`^${node}p\\d$`));
      for (const row of rows.slice(2, 6)) {
        expect(row[2]).not.toMatch(new RegExp(`^${node}p`));
        expect(row[4]).toBe(row[2].slice(0, 2));
      }
    }
  });

  it('counts encapsulated and decapsulated packets on every node, and traffic per identity pair', () => {
    const lines = section(demo.stdout, 'Dataplane counters');
    expect(lines.find((line) => line.startsWith('NODE'))).toMatch(
      /^NODE\s+ENCAPSULATED\s+DECAPSULATED\s+FORWARDED LOCAL\s+ARP REPLIED\s+OTHER\s+DROPS$/,
    );
    const counts = lines.filter((line) => /^n\d\s+\d/.test(line)).map((line) => line.split(/\s+/));
    expect(counts.map((row) => row[0])).toEqual(['n1', 'n2', 'n3']);
    for (const [, encapsulated, decapsulated] of counts) {
      expect(Number(encapsulated)).toBeGreaterThan(0);
      expect(Number(decapsulated)).toBeGreaterThan(0);
    }
    expect(lines).toContainEqual(
      expect.stringMatching(/^SOURCE\s+DESTINATION\s+NODE\s+DIRECTION\s+PACKETS\s+BYTES$/),
    );
    // The echo from n1p1 to n2p2: where it left (n1) and where it arrived (n2), the same count.
    const flow = lines.filter((line) => /^n1p1 \(\d+\)\s+n2p2 \(\d+\)/.test(line));
    expect(flow.map((line) => line.split(/\s+/).slice(4, 6))).toEqual([
      ['n1', 'from_pod'],
      ['n2', 'from_overlay'],
    ]);
    expect(Number(flow[0].split(/\s+/)[6])).toBeGreaterThan(100);
  });

  it('labels the pods web, api and db in namespace shop, every tier on two nodes', () => {
    const rows = section(demo.stdout, 'Micro-segmentation: tier labels')
      .filter((line) => /^n\dp\d /.test(line))
      .map(cells);
    expect(rows.map((row) => [row[0], row[1], row[3]])).toEqual([
      ['n1p1', 'n1', 'tier=web, strata.io/namespace=shop'],
      ['n1p2', 'n1', 'tier=api, strata.io/namespace=shop'],
      ['n2p1', 'n2', 'tier=db, strata.io/namespace=shop'],
      ['n2p2', 'n2', 'tier=web, strata.io/namespace=shop'],
      ['n3p1', 'n3', 'tier=api, strata.io/namespace=shop'],
      ['n3p2', 'n3', 'tier=db, strata.io/namespace=shop'],
    ]);
    for (const row of rows) expect(Number(row[4])).toBeGreaterThanOrEqual(256);
  });

  it('enforces the NetworkPolicy: db takes TCP/5432 from api only, across nodes; a drop is silence', () => {
    const lines = section(demo.stdout, 'Micro-segmentation: NetworkPolicy shop/db-from-api');
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^created as policy k8s-shop-db-from-api \(application tier, priority 1000\).*every agent applied the log up to position \d+$/,
      ),
    );
    const rows = probeRows(lines);
    expect(rows.map((row) => row.slice(0, 3))).toEqual(PROBED);
    const connected = /^connected, [\d.]+ ms$/;
    const silence = /^no answer in \d+ ms$/;
    for (const row of rows) expect(row[3]).toMatch(connected);
    expect(rows.map((row) => silence.test(row[4]))).toEqual([
      true,
      true,
      false,
      false,
      true,
      false,
    ]);
    for (const row of rows)
      expect(row[4]).toMatch(row[5].startsWith('denied') ? silence : connected);
  });

  it('stages a platform-tier deny: counted as "would deny" while the traffic still flows', () => {
    const lines = section(demo.stdout, 'Micro-segmentation: staged platform-tier deny');
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^created as policy freeze-db \(platform tier, priority 100, staged: true\).*every agent applied the log up to position \d+$/,
      ),
    );
    const rows = probeRows(lines);
    expect(rows.map((row) => row.slice(0, 3))).toEqual(PROBED);
    for (const row of rows) {
      expect(row[4]).toMatch(row[5].startsWith('denied') ? /^no answer in / : /^connected, /);
    }
  });

  it('prints the per-rule counters: which rule and tier allowed or denied how much, on which node', () => {
    const rows = section(demo.stdout, 'Micro-segmentation: verdicts per rule')
      .filter((line) => /^n\d\s+\d+\s/.test(line))
      .map(cells);
    // Only n2 and n3 run a db pod; the others' flows are decided by no rule.
    expect([...new Set(rows.map((row) => row[0]))]).toEqual(['n2', 'n3']);
    const rule = (node: string, policy: string) => {
      const found = rows.find((row) => row[0] === node && row[2] === policy);
      if (found === undefined)
        throw new Error(`no ${policy} row for ${node} in ${rows.join('\n')}`);
      const [allowed, denied, wouldDeny, wouldAllow] = found.slice(6).map(Number);
      return { tier: found[3], action: found[5], allowed, denied, wouldDeny, wouldAllow };
    };
    for (const [node, deniedFlows] of [
      ['n2', 4],
      ['n3', 2],
    ] as const) {
      expect(rule(node, 'k8s-shop-db-from-api')).toMatchObject({
        tier: 'application',
        action: 'allow',
        allowed: 2,
        denied: 0,
      });
      const isolation = rule(node, '(isolation: selected, no rule matched)');
      expect(isolation).toMatchObject({ tier: 'application', action: 'deny', allowed: 0 });
      // A dropped SYN the client sends again within the timeout counts again.
      expect(isolation.denied).toBeGreaterThanOrEqual(deniedFlows);
      expect(rule(node, 'freeze-db (staged)')).toEqual({
        tier: 'platform',
        action: 'deny',
        allowed: 0,
        denied: 0,
        wouldDeny: 1,
        wouldAllow: 0,
      });
    }
  });

  it('leaves no namespace, pin dir or lab dir behind', () => {
    expect(section(demo.stdout, 'Lab down')).toContain(
      `agents and server stopped; no namespace or pin dir named stl-${name}-* is left`,
    );
    expect(leftovers(name)).toEqual([]);
    expect(existsSync(join(dir, `lab-${name}`))).toBe(false);
  });
});

describe('strata demo, interrupted', () => {
  it('takes the lab down on SIGINT and exits 130', async () => {
    const name = labName('i');
    const child = spawn(process.execPath, [built, 'demo', '--name', name, '--data-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    await new Promise<void>((pinging, failed) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('== Ping')) pinging();
      });
      void exited.then((code) => failed(new Error(`demo exited ${code}:\n${stdout}\n${stderr}`)));
    });
    child.kill('SIGINT');
    expect({ code: await exited, stderr }).toMatchObject({ code: 130 });
    expect(stderr).toContain('strata: Interrupted: interrupted by SIGINT; the lab is down');
    expect(stdout).toContain('SIGINT: stopping; the lab goes down once the step under way ends');
    expect(section(stdout, 'Lab down')).toContain(
      `agents and server stopped; no namespace or pin dir named stl-${name}-* is left`,
    );
    expect(stdout).not.toContain('demo passed');
    expect(leftovers(name)).toEqual([]);
  });
});

describe('strata demo log (the event-log replay)', () => {
  it('appends network events to the embedded store and replays them as a table', async () => {
    const store = join(dir, 'events.db');
    const { stdout } = await strata(['demo', 'log', '--store', store]);
    expect(stdout).toContain('appended 10 new events');
    const rows = stdout.split('\n').filter((line) => /^\d+\s/.test(line));
    expect(rows.slice(0, 10).map((row) => row.split(/\s+/)[4])).toEqual([
      'SegmentCreated',
      'PoolCreated',
      'NodeRegistered',
      'NodeRegistered',
      'AddressAllocated',
      'EndpointCreated',
      'AddressAllocated',
      'EndpointCreated',
      'EndpointDeleted',
      'AddressReleased',
    ]);
    expect(rows.slice(0, 10).map((row) => Number(row.split(/\s+/)[0]))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(stdout).toMatch(
      /pool-blue\s+3\s+AddressReleased\s+svc:ipam\s+poolId=blue address=10\.10\.0\.2/,
    );
  });

  it('appends nothing new when run again: event ids derive from command ids', async () => {
    const store = join(dir, 'again.db');
    await strata(['demo', 'log', '--store', store]);
    const { stdout } = await strata(['demo', 'log', '--store', store]);
    expect(stdout).toContain('appended 0 new events (10 were already in the log');
    expect(stdout.split('\n').filter((line) => /^\d+\s/.test(line)).length).toBe(11);
  });

  it('fails with a clear error and a non-zero exit on a store it cannot open', async () => {
    const notADirectory = join(dir, 'a-file');
    writeFileSync(notADirectory, '');
    const error = await strata(['demo', 'log', '--store', join(notADirectory, 'events.db')]);
    expect(error.code).toBe(1);
    expect(error.stderr).toMatch(
      /^strata: StoreUnavailable: sqlite event store unavailable: cannot open/,
    );
  });
});
