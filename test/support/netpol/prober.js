// @ts-check
'use strict';
/* global Buffer, clearTimeout, setTimeout */
/**
 * The prober of the NetworkPolicy lab tests, run in a client pod's network namespace:
 *
 *   nsenter --net=/run/netns/<pod netns> node prober.js '<json request>'
 *
 * Request: { "timeoutMs": 500, "sourcePortBase": 20000,
 *            "targets": [{ "id": "y-b/TCP/80", "ip": "10.244.0.5", "protocol": "TCP", "port": 80 }] }
 * Prints one JSON line: { "results": [{ "id", "outcome", "reply", "ms" }] }, every target probed
 * at once, once each (no retries: a flake must show).
 *
 * Outcomes:
 * - `answered`: the server answered (its reply is the pod name, which the caller checks);
 * - `timeout`: no answer within timeoutMs. This is how a policy drop looks from a pod: the
 *   dataplane drops a denied packet silently (no RST, no ICMP), exactly like a packet lost on
 *   the wire, so silence is the only honest signal. An allowed probe in the lab answers within
 *   a few milliseconds (veths on one machine), so the timeout is a wide margin, not a guess;
 * - `error:<code>`: anything else (a reset, an unreachable, a bind failure). It matches neither
 *   "allowed" nor "denied": a refused connection is not what a policy does here.
 *
 * Each target uses its own source port, sourcePortBase + its index, so every probe of a test
 * run is a new flow: a conntrack entry left by an earlier allowed probe (which keeps an
 * established flow's packets flowing, as it should) can never let a later probe through.
 */
const dgram = require('node:dgram');
const net = require('node:net');

const request = JSON.parse(process.argv[2] ?? '{}');
const timeoutMs = Number(request.timeoutMs ?? 500);
const base = Number(request.sourcePortBase ?? 0);
/** @type {{ id: string, ip: string, protocol: 'TCP' | 'UDP', port: number }[]} */
const targets = request.targets ?? [];

/**
 * @param {{ id: string, ip: string, protocol: 'TCP' | 'UDP', port: number }} target
 * @param {number} localPort 0: any
 * @returns {Promise<{ id: string, outcome: string, reply: string, ms: number }>}
 */
function probe(target, localPort) {
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1000n) / 1000;
  return new Promise((resolve) => {
    let done = false;
    /** @type {() => void} */
    let close = () => undefined;
    const finish = (/** @type {string} */ outcome, reply = '') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      resolve({ id: target.id, outcome, reply, ms: elapsed() });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    if (target.protocol === 'TCP') {
      let reply = '';
      const socket = net.connect({
        host: target.ip,
        port: target.port,
        ...(localPort > 0 ? { localPort } : {}),
      });
      close = () => socket.destroy();
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => (reply += chunk));
      socket.on('end', () => finish('answered', reply));
      socket.on('error', (error) =>
        finish(`error:${/** @type {any} */ (error).code ?? error.message}`),
      );
    } else {
      const socket = dgram.createSocket('udp4');
      close = () => socket.close();
      socket.on('message', (message) => finish('answered', message.toString('utf8')));
      socket.on('error', (error) =>
        finish(`error:${/** @type {any} */ (error).code ?? error.message}`),
      );
      socket.bind(localPort, () => socket.send(Buffer.from('probe'), target.port, target.ip));
    }
  });
}

Promise.all(targets.map((target, i) => probe(target, base > 0 ? base + i : 0))).then((results) => {
  process.stdout.write(`${JSON.stringify({ results })}\n`);
});
