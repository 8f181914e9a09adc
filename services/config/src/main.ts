import { DEFAULT_VIP_POOL, runServiceMain } from '@strata/bus';
import { InvalidArgumentError } from 'commander';
import { CONFIG_SERVICE, resolveHttpToken, startConfigService } from './config-service';
import { nodeLivenessFromFlags, nodeLivenessOptions } from './node-liveness/liveness-flags';

/**
 * Runs the config service alone, as one replica: `node dist/services/config/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db --http-port 8080 --credentials
 * .strata/credentials`. It needs the IPAM service on the same NATS (segments get VNIs and
 * services VIPs from it). With `--credentials`, the REST API takes the token in
 * `<dir>/http-token`; without, from $STRATA_HTTP_TOKEN. Node liveness: `--node-timeout-ms`
 * (0: no watchdog), `--heartbeat-resolution-ms`, `--liveness-check-ms` (./node-liveness).
 * Shared flags, the `config ready pid=<pid> http=<url>` line and shutdown are runServiceMain's.
 */
runServiceMain({
  name: CONFIG_SERVICE,
  description: 'Strata config service: the API front door (REST + NATS)',
  flags: (program) =>
    nodeLivenessOptions().reduce(
      (command, option) => command.addOption(option),
      program
        .option('--http-port <port>', 'REST API port (0: any free port)', parsePort, 8080)
        .option('--http-host <host>', 'REST API listen address', '127.0.0.1')
        .option('--vip-pool <id>', 'IPAM vip pool for services that name none', DEFAULT_VIP_POOL),
    ),
  start: async ({ flags, credentialsDir, ...options }) => {
    const liveness = nodeLivenessFromFlags(flags);
    const config = await startConfigService({
      ...options,
      http: {
        port: flags.httpPort as number,
        host: flags.httpHost as string,
        token: await resolveHttpToken(credentialsDir),
      },
      defaultVipPool: flags.vipPool as string,
      liveness,
    });
    return { close: () => config.close(), url: config.url };
  },
});

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) {
    throw new InvalidArgumentError('expected a port number 0-65535');
  }
  return port;
}
