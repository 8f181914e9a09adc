// @ts-check
'use strict';
/* global Buffer, console, setTimeout */
/**
 * The probe server of the NetworkPolicy lab tests, run in a pod's network namespace:
 *
 *   nsenter --net=/run/netns/<pod netns> node server.js <pod name> [port ...]   (default 80 81)
 *
 * Listens on TCP and UDP on every port, on every address. A TCP client gets the pod name and
 * the connection closed; a UDP datagram gets the pod name back to its sender. So a prober knows
 * it reached the pod it aimed at, not merely something. Prints `listening <name>` once every
 * socket is bound; exits on SIGTERM/SIGINT, or after --max-seconds (default 3600) so it never
 * outlives a crashed test.
 */
const dgram = require('node:dgram');
const net = require('node:net');

const args = process.argv.slice(2);
let maxSeconds = 3600;
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--max-seconds') maxSeconds = Number(args[++i]);
  else positional.push(args[i]);
}
const [name, ...portArgs] = positional;
if (name === undefined || !Number.isFinite(maxSeconds)) {
  console.error('usage: server.js <pod name> [port ...] [--max-seconds n]');
  process.exit(2);
}
const ports = (portArgs.length === 0 ? ['80', '81'] : portArgs).map(Number);
const reply = Buffer.from(name);

/** @type {(net.Server | dgram.Socket)[]} */
const sockets = [];
const bound = ports.flatMap((port) => [
  new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end(reply);
    });
    sockets.push(server);
    server.once('error', reject);
    server.listen({ port, host: '0.0.0.0' }, () => resolve(undefined));
  }),
  new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    sockets.push(socket);
    socket.on('message', (_message, from) => socket.send(reply, from.port, from.address));
    socket.once('error', reject);
    socket.bind(port, '0.0.0.0', () => resolve(undefined));
  }),
]);

Promise.all(bound).then(
  () => console.log(`listening ${name} tcp,udp ${ports.join(',')}`),
  (error) => {
    console.error(`server ${name}: ${error.message}`);
    process.exit(1);
  },
);

const stop = () => {
  for (const socket of sockets) socket.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, maxSeconds * 1000).unref();
