/**
 * bench/dataplane: pod-to-pod across two nodes on one lab topology (lab.ts), with routing and no
 * overlay, kernel VXLAN (flannel style), and Strata's BPF dataplane in TC and in XDP mode
 * (setups.ts), side by side in one run: single-stream TCP, 64-byte packets per second on one
 * core, and ping RTT (measure.ts). Rounds interleave the setups, so a burst of load on the
 * machine hits every column; figures are medians over rounds (report.ts).
 *
 *   npm run bench:dataplane     (root; ROUNDS=3 TCP_SECONDS=10 FRAMES=2000000 GEN_CPU=0
 *                                SETUPS=routing,kvxlan,strata-tc,strata-xdp by default)
 */
import { bpffsMounted } from '@strata/dataplane';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, machine, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { positiveIntFromEnv as positiveInt } from '../support/stats';
import { Lab } from './lab';
import { measurePps, measureRtt, measureTcp, reachable, Sink } from './measure';
import { aimsTable, failures, rawTable, resultTable, type Column, type Outcome } from './report';
import { SETUP_IDS, SETUPS, type Applied, type Setup, type SetupId } from './setups';

const ROUNDS = positiveInt('ROUNDS', 3);
const TCP_SECONDS = positiveInt('TCP_SECONDS', 10);
const FRAMES = positiveInt('FRAMES', 2_000_000);
const GEN_CPU = nonNegativeInt('GEN_CPU', 0);
const SELECTED = selectedSetups();

const TOOLS = ['ip', 'bridge', 'nsenter', 'taskset', 'ethtool', 'iperf3', 'ping', 'clang'];
const C_PROGRAMS = ['xdp_gen', 'tc_sink', 'xdp_pass'] as const;

async function main(): Promise<void> {
  preflight();
  const root = checkoutRoot();
  const lab = new Lab();
  const build = mkdtempSync(join(tmpdir(), `${lab.prefix}-`));
  const cleanup = () => {
    lab.destroy();
    rmSync(build, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\nbench/dataplane: ${signal}, removing ${lab.prefix}-*`);
      cleanup();
      process.exit(130);
    });
  }
  let sink: Sink | undefined;
  try {
    const objects = compile(root, build);
    const loadAtStart = loadAverage();
    lab.build();
    sink = await Sink.attach(lab, objects.tc_sink);
    const columns = new Map<SetupId, Outcome[]>(SELECTED.map((setup) => [setup.id, []]));
    const notes: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const setup of SELECTED) {
        const outcome = await measureSetup(lab, setup, sink, objects, (note) =>
          notes.push(`${setup.label}, round ${round}: ${note}`),
        );
        columns.get(setup.id)!.push(outcome);
        console.error(`round ${round}/${ROUNDS} ${setup.label}: ${progress(outcome)}`);
      }
    }
    const table: Column[] = SELECTED.map((setup) => ({
      id: setup.id,
      label: setup.label,
      outcomes: columns.get(setup.id)!,
    }));
    console.log(
      `\nbench/dataplane: pod1 -> pod2 across two nodes (netns ${lab.prefix}-*), underlay veth ` +
        `MTU 1500, pod MTU 1450, pods at veth default offloads (Strata XDP: tx checksum off, ` +
        `GRO on, an XDP_PASS program on eth0). TCP: iperf3, 1 stream, ${TCP_SECONDS} s, receiver rate. 64 B pps: ` +
        `${FRAMES.toLocaleString('en-US')} frames from a live-frames generator pinned to CPU ` +
        `${GEN_CPU}, counted by a TC sink in pod2, per second of generator time. RTT: ping -c 20 ` +
        `-i 0.05. ${ROUNDS} rounds interleaving the setups; medians.\n` +
        `Linux ${release()}, ${cpus().length} CPUs; load average ${loadAtStart} at start, ` +
        `${loadAverage()} at end.\n`,
    );
    console.log(resultTable(table, ROUNDS));
    if (table.some((c) => c.id === 'strata-tc' || c.id === 'strata-xdp')) {
      console.log(`\n${aimsTable(table)}`);
    }
    console.log(`\n${rawTable(table)}`);
    const problems = [...failures(table), ...notes];
    if (problems.length > 0) console.log(`\nnotes:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  } finally {
    sink?.close();
    cleanup();
  }
}

/** Applies one setup, measures it, removes it. A setup that fails is an outcome, not an abort. */
async function measureSetup(
  lab: Lab,
  setup: Setup,
  sink: Sink,
  objects: Objects,
  note: (text: string) => void,
): Promise<Outcome> {
  // Every setup starts from the same lab: pods at the veth default offloads, no neighbours.
  lab.restorePodOffloads();
  lab.flushNeighbours();
  let applied: Applied;
  try {
    applied = await setup.apply(lab, { xdpPass: objects.xdp_pass });
  } catch (error) {
    return { status: 'failed', reason: `setup: ${(error as Error).message}` };
  }
  try {
    if (!(await reachable(lab))) {
      return { status: 'failed', reason: 'pod1 gets no ping reply from pod2' };
    }
    const rtt = await measureRtt(lab);
    if (rtt.lossPct > 0) note(`${rtt.lossPct}% ping loss`);
    const tcp = await measureTcp(lab, TCP_SECONDS);
    const pps = await measurePps(lab, sink, {
      generatorObject: objects.xdp_gen,
      frames: FRAMES,
      cpu: GEN_CPU,
    });
    const drops = Object.entries(applied.drops?.() ?? {});
    if (drops.length > 0) {
      note(`dataplane drops ${drops.map(([what, n]) => `${what} ${n}`).join(', ')}`);
    }
    return {
      status: 'measured',
      sample: {
        rttMs: rtt.avgMs,
        tcpGbps: tcp.gbps,
        retransmits: tcp.retransmits,
        csumErrors: tcp.csumErrors,
        pps: pps.pps,
        deliveredPct: pps.deliveredPct,
      },
    };
  } catch (error) {
    return { status: 'failed', reason: (error as Error).message };
  } finally {
    // A setup that cannot be removed leaves the lab in an unknown state: that aborts the run.
    await applied.remove();
  }
}

function progress(outcome: Outcome): string {
  if (outcome.status === 'failed') return `n/a (${outcome.reason})`;
  const s = outcome.sample;
  return (
    `${s.tcpGbps.toFixed(2)} Gbit/s, ${Math.round(s.pps).toLocaleString('en-US')} pps ` +
    `(${s.deliveredPct.toFixed(1)}% delivered), ${s.rttMs.toFixed(3)} ms`
  );
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('bench/dataplane needs root (netns, BPF)');
  if (!bpffsMounted()) throw new Error('bpffs is not mounted at /sys/fs/bpf');
  const missing = TOOLS.filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(`missing tools: ${missing.join(', ')} (bash scripts/setup.sh installs them)`);
  }
  if (GEN_CPU >= cpus().length) throw new Error(`GEN_CPU=${GEN_CPU}: no such CPU`);
}

/** The checkout this file runs from (source or dist/): where the C sources and objects are. */
function checkoutRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bench', 'dataplane', 'xdp_gen.bpf.c'))) {
      if (!existsSync(join(dir, 'dataplane', 'bpf', 'build', 'pod_egress.bpf.o'))) {
        throw new Error('no compiled Strata BPF objects: run make -C dataplane/bpf');
      }
      return dir;
    }
    if (dirname(dir) === dir) throw new Error('bench/dataplane: C sources not found');
  }
}

type Objects = Record<(typeof C_PROGRAMS)[number], string>;

/** clang -target bpf for the benchmark's own programs, into `out`. */
function compile(root: string, out: string): Objects {
  const objects = {} as Objects;
  for (const name of C_PROGRAMS) {
    const object = join(out, `${name}.bpf.o`);
    execFileSync(
      'clang',
      [
        ...['-O2', '-g', '-target', 'bpf', '-Wall', '-Werror'],
        `-I/usr/include/${machine()}-linux-gnu`,
        ...['-c', join(root, 'bench', 'dataplane', `${name}.bpf.c`), '-o', object],
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    objects[name] = object;
  }
  return objects;
}

function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

function nonNegativeInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function selectedSetups(): Setup[] {
  const raw = process.env.SETUPS;
  if (raw === undefined || raw === '') return SETUP_IDS.map((id) => SETUPS[id]);
  return raw.split(',').map((id) => {
    if (!(SETUP_IDS as readonly string[]).includes(id)) {
      throw new Error(`SETUPS: unknown setup '${id}' (known: ${SETUP_IDS.join(', ')})`);
    }
    return SETUPS[id as SetupId];
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
