import { execFile, spawn } from 'node:child_process';
import { nsenterArgs } from '../lab/host';

/**
 * Traffic between the lab's pods, run in their network namespaces with nsenter (as `lab exec`
 * does): ping, and a TCP echo written in Node (run by absolute path: the pods share the host's
 * file system, and nothing like nc is installed). Every child is tied to `signal`, so an
 * interrupted demo stops them before it tears the lab down.
 */

const ECHO_PORT = 7000;
const EXEC_TIMEOUT_MS = 60_000;
const LISTEN_TIMEOUT_MS = 15_000;

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` in `namespace`; resolves whatever its exit code, rejects when `signal` fires. */
function runIn(namespace: string, command: readonly string[], signal: AbortSignal): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      nsenterArgs(namespace, command),
      { signal, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr: stderr || (error?.message ?? '') });
      },
    );
  });
}

export interface PingResult {
  readonly transmitted: number;
  readonly received: number;
  readonly lossPercent: number;
  /** min/avg/max in ms; null when nothing came back. */
  readonly rtt: { readonly min: number; readonly avg: number; readonly max: number } | null;
}

/** The summary lines of iputils ping; undefined when there are none (ping did not run). */
export function parsePing(output: string): PingResult | undefined {
  const counts = /(\d+) packets transmitted, (\d+) received.*?, ([\d.]+)% packet loss/.exec(output);
  if (counts === null) return undefined;
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/[\d.]+ ms/.exec(output);
  return {
    transmitted: Number(counts[1]),
    received: Number(counts[2]),
    lossPercent: Number(counts[3]),
    rtt: rtt === null ? null : { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]) },
  };
}

/** `count` pings 200 ms apart from `namespace` to `ip`; the ping's own words when it fails. */
export async function ping(
  namespace: string,
  ip: string,
  count: number,
  signal: AbortSignal,
): Promise<PingResult | { readonly error: string }> {
  const ran = await runIn(
    namespace,
    ['ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '2', ip],
    signal,
  );
  return (
    parsePing(ran.stdout) ?? { error: (ran.stderr || ran.stdout).trim() || `exit ${ran.code}` }
  );
}

export type EchoResult =
  | { readonly ok: true; readonly bytes: number; readonly ms: number }
  | { readonly ok: false; readonly error: string };

/**
 * A one-connection TCP echo server on `server.ip` in its namespace, and a client in
 * `clientNamespace` that sends `bytes` and reads them back. The server is waited on by its
 * "listening" line and exits after its client (or after 60 s, so it never outlives the demo).
 */
export async function tcpEcho(
  server: { readonly namespace: string; readonly ip: string },
  clientNamespace: string,
  bytes: number,
  signal: AbortSignal,
): Promise<EchoResult> {
  const serverScript =
    `const s = require('net').createServer((c) => { c.pipe(c); c.on('end', () => s.close()); });` +
    `s.listen(${ECHO_PORT}, '${server.ip}', () => console.log('listening'));` +
    `setTimeout(() => process.exit(2), 60000).unref();`;
  const child = spawn(
    'nsenter',
    nsenterArgs(server.namespace, [process.execPath, '-e', serverScript]),
    { signal, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<string>((resolve) => {
    child.once('close', (code, how) => resolve(how ?? `exit ${code}`));
    // An abort kills the child and emits 'error' (then 'close'); a child that never started
    // emits only 'error'.
    child.on('error', (error) => {
      if (child.pid === undefined) resolve(error.message);
    });
  });
  let output = '';
  try {
    const listening = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), LISTEN_TIMEOUT_MS);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('listening')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    signal.throwIfAborted();
    if (!listening) {
      return { ok: false, error: `echo server did not listen: ${output.trim() || 'no output'}` };
    }
    const clientScript =
      `const t = process.hrtime.bigint();` +
      `const c = require('net').connect(${ECHO_PORT}, '${server.ip}', () => c.end(Buffer.alloc(${bytes}, 7)));` +
      `let n = 0; c.on('data', (d) => { n += d.length; });` +
      `c.on('end', () => console.log(JSON.stringify({ bytes: n, ms: Number(process.hrtime.bigint() - t) / 1e6 })));` +
      `c.on('error', (e) => { console.error(e.message); process.exit(1); });` +
      `setTimeout(() => { console.error('stalled after ' + n + ' bytes'); process.exit(3); }, 30000).unref();`;
    const ran = await runIn(clientNamespace, [process.execPath, '-e', clientScript], signal);
    if (ran.code !== 0) {
      return { ok: false, error: (ran.stderr || ran.stdout).trim() || `exit ${ran.code}` };
    }
    const echoed = JSON.parse(ran.stdout) as { bytes: number; ms: number };
    return echoed.bytes === bytes
      ? { ok: true, bytes: echoed.bytes, ms: echoed.ms }
      : { ok: false, error: `echoed ${echoed.bytes} of ${bytes} bytes` };
  } finally {
    // Stopped by its PID (this child only) when it did not end with its client.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  }
}

/** What one TCP connect saw: an answer from the pod aimed at, silence, or anything else. */
export type ConnectOutcome =
  | { readonly outcome: 'answered'; readonly reply: string; readonly ms: number }
  | { readonly outcome: 'timeout'; readonly ms: number }
  | { readonly outcome: 'error'; readonly error: string };

/**
 * A server in `pod`'s namespace that answers every TCP connection on `ports` (on the pod's
 * address) with the pod's name and closes it, so a prober knows it reached the pod it aimed at.
 * Resolves once every port listens (its "listening" line); `stop()` ends it by its PID. It
 * exits by itself after 60 s, so it never outlives the demo.
 */
export async function startNameServer(
  pod: { readonly name: string; readonly namespace: string; readonly ip: string },
  ports: readonly number[],
  signal: AbortSignal,
): Promise<{ stop: () => Promise<void> }> {
  const script =
    `const net = require('net');` +
    `Promise.all(${JSON.stringify(ports)}.map((port) => new Promise((ok, fail) => {` +
    `const s = net.createServer((c) => { c.on('error', () => {}); c.end(${JSON.stringify(pod.name)}); });` +
    `s.once('error', fail); s.listen(port, '${pod.ip}', ok); })))` +
    `.then(() => console.log('listening'), (e) => { console.error(e.message); process.exit(1); });` +
    `setTimeout(() => process.exit(2), 60000).unref();`;
  const child = spawn('nsenter', nsenterArgs(pod.namespace, [process.execPath, '-e', script]), {
    signal,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<string>((resolve) => {
    child.once('close', (code, how) => resolve(how ?? `exit ${code}`));
    child.on('error', (error) => {
      if (child.pid === undefined) resolve(error.message);
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let output = '';
  const listening = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), LISTEN_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('listening')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    void exited.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (signal.aborted || !listening) {
    await stop();
    signal.throwIfAborted();
    throw new Error(`server in ${pod.name} did not listen: ${output.trim() || 'no output'}`);
  }
  return { stop };
}

/**
 * One TCP connect from `namespace` to `ip:port`, given `timeoutMs` to be answered (no retry: a
 * policy drop is silence, and an allowed connect in the lab answers in milliseconds).
 */
export async function tcpConnect(
  namespace: string,
  target: { readonly ip: string; readonly port: number },
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ConnectOutcome> {
  const script =
    `const t = process.hrtime.bigint(); const ms = () => Number(process.hrtime.bigint() - t) / 1e6;` +
    `const done = (r) => { console.log(JSON.stringify(r)); process.exit(0); };` +
    `const c = require('net').connect(${target.port}, '${target.ip}');` +
    `let reply = ''; c.setEncoding('utf8'); c.on('data', (d) => { reply += d; });` +
    `c.on('end', () => done({ outcome: 'answered', reply, ms: ms() }));` +
    `c.on('error', (e) => done({ outcome: 'error', error: e.code || e.message }));` +
    `setTimeout(() => done({ outcome: 'timeout', ms: ms() }), ${timeoutMs});`;
  const ran = await runIn(namespace, [process.execPath, '-e', script], signal);
  try {
    return JSON.parse(ran.stdout) as ConnectOutcome;
  } catch {
    return {
      outcome: 'error',
      error: (ran.stderr || ran.stdout).trim() || `exit ${ran.code}`,
    };
  }
}
