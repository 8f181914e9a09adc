import { Command, InvalidArgumentError } from 'commander';
import { loadCredentials } from '@strata/bus';
import { DEFAULT_SQLITE_PATH, SqliteEventStore } from '@strata/eventstore';
import { IPAM_SERVICE, startIpamService } from './ipam-service';

/**
 * Runs the IPAM service alone, as one replica: `node dist/services/ipam/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db`. Start several with the same NATS and
 * store to share the load (one queue group). Prints `ipam ready pid=<pid>` once it answers
 * requests; SIGTERM or SIGINT lets requests in progress reply, then exits.
 */
const program = new Command('strata-ipam')
  .description('Strata IPAM service: global address pools, service VIPs and segment VNIs')
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
  .option(
    '--credentials <dir>',
    'NATS credentials directory (connects as the ipam identity); none on an open server',
    process.env.STRATA_CREDENTIALS_DIR,
  )
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse(process.argv);
  const options = program.opts<{ nats: string; store: string; credentials?: string }>();
  const natsUrl = options.nats
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (natsUrl.length === 0) throw new InvalidArgumentError('--nats needs at least one URL');
  if (options.store.trim() === '') throw new InvalidArgumentError('--store must not be empty');

  const store = new SqliteEventStore({ path: options.store });
  const credentials =
    options.credentials === undefined || options.credentials === ''
      ? undefined
      : await loadCredentials(options.credentials, IPAM_SERVICE);
  const service = await startIpamService({
    natsUrl,
    store,
    credentials,
    logger: ['error', 'warn'],
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await service.close();
    await store.close();
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  console.log(
    `${IPAM_SERVICE} ready pid=${process.pid} nats=${natsUrl.join(',')} store=${options.store}`,
  );
}

main().catch((error: unknown) => {
  const coded = error as { code?: unknown; message?: string };
  console.error(
    typeof coded.code === 'string'
      ? `strata-ipam: ${coded.code}: ${coded.message}`
      : `strata-ipam: ${(error as Error).stack ?? String(error)}`,
  );
  process.exitCode = 1;
});
