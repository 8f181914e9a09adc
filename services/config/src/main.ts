import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_VIP_POOL, loadCredentials, loadHttpToken } from '@strata/bus';
import { DEFAULT_SQLITE_PATH, SqliteEventStore } from '@strata/eventstore';
import { CONFIG_SERVICE, startConfigService } from './config-service';

/**
 * Runs the config service alone, as one replica: `node dist/services/config/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db --http-port 8080 --credentials
 * .strata/credentials`. It needs the IPAM service on the same NATS (segments get VNIs and
 * services VIPs from it). With `--credentials`, it connects to NATS as the `config` identity and
 * the REST API takes the token in `<dir>/http-token`; without, NATS is open and the token comes
 * from $STRATA_HTTP_TOKEN (never from the command line, where `ps` would show it). There is no
 * API without a token. Prints `config ready pid=<pid> http=<url>` once it answers; SIGTERM or
 * SIGINT lets requests in progress reply, then exits.
 */
const program = new Command('strata-config')
  .description('Strata config service: the API front door (REST + NATS)')
  .option(
    '--nats <urls>',
    'NATS server URL(s), comma-separated',
    process.env.STRATA_NATS_URL ?? 'nats://127.0.0.1:4222',
  )
  .option(
    '--store <path>',
    'SQLite event store file',
    process.env.STRATA_STORE ?? DEFAULT_SQLITE_PATH,
  )
  .option('--http-port <port>', 'REST API port (0: any free port)', parsePort, 8080)
  .option('--http-host <host>', 'REST API listen address', '127.0.0.1')
  .option(
    '--credentials <dir>',
    'credentials directory: NATS as the config identity, API token from <dir>/http-token',
    process.env.STRATA_CREDENTIALS_DIR,
  )
  .option('--vip-pool <id>', 'IPAM vip pool for services that name none', DEFAULT_VIP_POOL)
  .showHelpAfterError();

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) {
    throw new InvalidArgumentError('expected a port number 0-65535');
  }
  return port;
}

interface Options {
  nats: string;
  store: string;
  httpPort: number;
  httpHost: string;
  credentials?: string;
  vipPool: string;
}

async function main(): Promise<void> {
  program.parse(process.argv);
  const options = program.opts<Options>();
  const natsUrl = options.nats
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (natsUrl.length === 0) throw new InvalidArgumentError('--nats needs at least one URL');
  if (options.store.trim() === '') throw new InvalidArgumentError('--store must not be empty');
  const withCredentials = options.credentials !== undefined && options.credentials !== '';
  const token = withCredentials
    ? await loadHttpToken(options.credentials)
    : process.env.STRATA_HTTP_TOKEN;
  if (token === undefined || token.length === 0) {
    throw new InvalidArgumentError(
      'the REST API needs a token: pass --credentials <dir> or set STRATA_HTTP_TOKEN',
    );
  }
  const credentials = withCredentials
    ? await loadCredentials(options.credentials as string, CONFIG_SERVICE)
    : undefined;

  const store = new SqliteEventStore({ path: options.store });
  const config = await startConfigService({
    natsUrl,
    store,
    credentials,
    http: { port: options.httpPort, host: options.httpHost, token },
    defaultVipPool: options.vipPool,
    logger: ['error', 'warn'],
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await config.close();
    await store.close();
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  console.log(
    `${CONFIG_SERVICE} ready pid=${process.pid} http=${config.url} nats=${natsUrl.join(',')} store=${options.store}`,
  );
}

main().catch((error: unknown) => {
  const coded = error as { code?: unknown; message?: string };
  console.error(
    typeof coded.code === 'string'
      ? `strata-config: ${coded.code}: ${coded.message}`
      : `strata-config: ${(error as Error).stack ?? String(error)}`,
  );
  process.exitCode = 1;
});
