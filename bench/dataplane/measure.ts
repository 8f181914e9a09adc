/**
 * The three measurements, pod1 -> pod2 on whatever dataplane is applied:
 * - ping RTT: `ping -c 20 -i 0.05`, the avg;
 * - TCP: one iperf3 stream (server `-s -1` in pod2, client in pod1), the receiver's rate, its
 *   retransmits and the pods' TcpInCsumErrors (a broken checksum offload path shows there);
 * - 64-byte packets per second on one core: a helper process pinned to one CPU with taskset
 *   runs xdp_gen in live-frames mode on pod1's eth0 (so the whole path runs in that CPU's
 *   softirq), and tc_sink on pod2's eth0 counts what arrives: delivered frames / run time.
 */
import { loadObject, type BpfObject } from '@strata/dataplane';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ETH_P_IPV4, IPPROTO_UDP, ethernet, ipv4, udp } from '../../test/support/packets';
import { GATEWAY_MAC, POD_INTERFACE, type Lab } from './lab';
import type { GeneratorRequest, GeneratorResult } from './generator';

const IPERF_PORT = 5201;
const SINK_PORT = 9;
const FRAME_BYTES = 64;

export interface Rtt {
  readonly avgMs: number;
  readonly lossPct: number;
}

export interface Tcp {
  readonly gbps: number;
  readonly retransmits: number;
  /** TcpInCsumErrors in both pods during the run. */
  readonly csumErrors: number;
}

export interface Pps {
  /** Frames counted at the sink per second of generator run time. */
  readonly pps: number;
  readonly deliveredPct: number;
}

/** Up to `seconds` one-second pings until one is answered (neighbours resolve on the way). */
export async function reachable(lab: Lab, seconds = 5): Promise<boolean> {
  const [pod1, pod2] = lab.pods;
  for (let i = 0; i < seconds; i++) {
    const { code } = await lab.run(pod1.ns, ['ping', '-c', '1', '-W', '1', '-q', pod2.ip], {
      timeoutMs: 5_000,
    });
    if (code === 0) return true;
  }
  return false;
}

export async function measureRtt(lab: Lab): Promise<Rtt> {
  const [pod1, pod2] = lab.pods;
  const { stdout } = await lab.run(
    pod1.ns,
    ['ping', '-c', '20', '-i', '0.05', '-W', '1', '-q', pod2.ip],
    { timeoutMs: 30_000 },
  );
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(stdout);
  const loss = /([\d.]+)% packet loss/.exec(stdout);
  if (rtt === null || loss === null) throw new Error(`ping: no summary in: ${stdout}`);
  return { avgMs: Number(rtt[1]), lossPct: Number(loss[1]) };
}

export async function measureTcp(lab: Lab, seconds: number): Promise<Tcp> {
  const [pod1, pod2] = lab.pods;
  const server = lab.spawn(pod2.ns, ['iperf3', '-s', '-1', '--forceflush', '-p', `${IPERF_PORT}`]);
  try {
    await listening(server);
    const errorsBefore = csumErrors(lab);
    const client = await lab.run(
      pod1.ns,
      ['iperf3', '-c', pod2.ip, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'],
      { timeoutMs: (seconds + 30) * 1_000 },
    );
    const errors = csumErrors(lab) - errorsBefore;
    const report = parseIperf(client.stdout);
    if (client.code !== 0 || report === undefined) {
      throw new Error(`iperf3 client failed (${client.code}): ${client.stdout}${client.stderr}`);
    }
    return { ...report, csumErrors: errors };
  } finally {
    // `-1` makes the server exit after its one test; if it did not (a failed run), kill it.
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }
}

async function listening(server: ReturnType<Lab['spawn']>): Promise<void> {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iperf3 server not up: ${out}`)), 10_000);
    server.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Server listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`iperf3 server exited (${code}): ${out}`));
    });
  });
}

function parseIperf(json: string): Omit<Tcp, 'csumErrors'> | undefined {
  try {
    const report = JSON.parse(json) as {
      end?: {
        sum_received?: { bits_per_second?: number };
        sum_sent?: { retransmits?: number };
      };
    };
    const bps = report.end?.sum_received?.bits_per_second;
    if (bps === undefined) return undefined;
    return { gbps: bps / 1e9, retransmits: report.end?.sum_sent?.retransmits ?? 0 };
  } catch {
    return undefined;
  }
}

/** TcpInCsumErrors summed over both pods (/proc/net/snmp is per namespace). */
function csumErrors(lab: Lab): number {
  let sum = 0;
  for (const pod of lab.pods) {
    const lines = lab
      .exec(pod.ns, 'cat', '/proc/net/snmp')
      .split('\n')
      .filter((line) => line.startsWith('Tcp:'));
    const [names, values] = lines.map((line) => line.split(/\s+/));
    const index = names?.indexOf('InCsumErrors') ?? -1;
    if (index < 0 || values === undefined) throw new Error(`${pod.ns}: no TcpInCsumErrors`);
    sum += Number(values[index]);
  }
  return sum;
}

/** The 64-byte UDP frame pod1 sends to pod2's sink port, addressed to its gateway. */
export function generatorFrame(lab: Lab): Buffer {
  const [pod1, pod2] = lab.pods;
  const payload = Buffer.alloc(FRAME_BYTES - 14 - 20 - 8, 0x5a);
  const addresses = { src: pod1.ip, dst: pod2.ip };
  const frame = ethernet(
    { dst: GATEWAY_MAC, src: pod1.mac, type: ETH_P_IPV4 },
    ipv4(
      { ...addresses, protocol: IPPROTO_UDP },
      udp({ ...addresses, sport: 12345, dport: SINK_PORT }, payload),
    ),
  );
  if (frame.length !== FRAME_BYTES) throw new Error(`frame is ${frame.length} bytes`);
  return frame;
}

/** tc_sink on pod2's eth0 ingress, for the whole run (its count only grows). */
export class Sink {
  private constructor(private readonly object: BpfObject) {}

  static async attach(lab: Lab, objectPath: string): Promise<Sink> {
    const object = await loadObject(objectPath);
    await object
      .program('tc_sink')
      .attachTc(POD_INTERFACE, 'ingress', { netns: lab.pods[1].netns });
    return new Sink(object);
  }

  count(): number {
    const value = this.object.map('sink_packets').lookup(Buffer.alloc(4));
    if (value === undefined) return 0;
    let sum = 0n;
    for (let offset = 0; offset < value.length; offset += 8) sum += value.readBigUInt64LE(offset);
    return Number(sum);
  }

  close(): void {
    this.object.close();
  }
}

export async function measurePps(
  lab: Lab,
  sink: Sink,
  options: { generatorObject: string; frames: number; cpu: number },
): Promise<Pps> {
  const [pod1] = lab.pods;
  const request: GeneratorRequest = {
    object: options.generatorObject,
    netns: pod1.netns,
    ifname: POD_INTERFACE,
    frame: generatorFrame(lab).toString('hex'),
    frames: options.frames,
  };
  // Frames XDP_TX'd out of pod1's eth0 reach the host veth as XDP frames: it needs NAPI (GRO
  // on, or an XDP program) to take them.
  const host = { ns: pod1.node.ns, dev: pod1.hostInterface };
  const gro = lab.offloads(host.ns, host.dev).gro;
  lab.setOffloads(host.ns, host.dev, { gro: true });
  try {
    const before = sink.count();
    const result = await lab.run(
      pod1.ns,
      [process.execPath, join(__dirname, 'generator.js'), JSON.stringify(request)],
      { cpu: options.cpu, timeoutMs: 300_000 },
    );
    if (result.code !== 0) {
      throw new Error(`generator failed (${result.code}): ${result.stderr}${result.stdout}`);
    }
    const { durationNs } = JSON.parse(result.stdout) as GeneratorResult;
    // The last batches may still be draining (ksoftirqd): count once the sink stops moving.
    const delivered = (await settledCount(() => sink.count())) - before;
    return {
      pps: delivered / (durationNs / 1e9),
      deliveredPct: (100 * delivered) / options.frames,
    };
  } finally {
    lab.setOffloads(host.ns, host.dev, { gro });
  }
}

/** `read()` once two reads 50 ms apart agree (at most 2 s): a counter that stopped moving. */
async function settledCount(read: () => number): Promise<number> {
  let last = read();
  for (let waited = 0; waited < 2_000; waited += 50) {
    await sleep(50);
    const now = read();
    if (now === last) return now;
    last = now;
  }
  return last;
}
