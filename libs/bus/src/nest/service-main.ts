import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_SQLITE_PATH, SqliteEventStore, type EventStore } from '@strata/eventstore';
import { loadCredentials } from '../security/credentials';
import type { ServiceName } from '../security/permissions';
import type { StrataServiceOptions } from './strata-service';

/**
 * The `main` of a service that runs alone, as one replica: the flags every such service takes,
 * the store it opens, the identity it connects as, and its shutdown, written once.
 *
 *   --nats <urls>        NATS server URL(s), comma-separated ($STRATA_NATS_URL)
 *   --store <path>       SQLite event store file ($STRATA_STORE)
 *   --credentials <dir>  connect to NATS as the service's own identity ($STRATA_CREDENTIALS_DIR);
 *                        none on an open server
 *
 * Prints `<name> ready pid=<pid> ...` once the service answers requests; SIGTERM or SIGINT lets
 * requests in progress reply, then closes the service and the store. A failure to start is
 * printed as `strata-<name>: <code>: <message>` and sets the exit code to 1.
 */
export interface ServiceMain {
  readonly name: ServiceName;
  /** One line for `--help`. */
  readonly description: string;
  /** Flags of this service beyond the shared ones (config's REST API port, say). */
  readonly flags?: (program: Command) => Command;
  readonly start: (
    options: Pick<StrataServiceOptions, 'natsUrl' | 'store' | 'credentials' | 'logger'> & {
      /** The --credentials directory, when given. */
      readonly credentialsDir: string | undefined;
      /** Every parsed flag, the service's own included. */
      readonly flags: Readonly<Record<string, unknown>>;
    },
  ) => Promise<{ close(): Promise<void>; readonly url?: string }>;
}

export function runServiceMain(service: ServiceMain, argv: readonly string[] = process.argv): void {
  const program = new Command(`strata-${service.name}`)
    .description(service.description)
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
      `NATS credentials directory (connects as the ${service.name} identity); none on an open server`,
      process.env.STRATA_CREDENTIALS_DIR,
    )
    .showHelpAfterError();
  service.flags?.(program);

  const main = async (): Promise<void> => {
    program.parse([...argv]);
    const options = program.opts<{ nats: string; store: string; credentials?: string }>();
    const credentialsDir =
      options.credentials === undefined || options.credentials === ''
        ? undefined
        : options.credentials;
    const natsUrl = options.nats
      .split(',')
      .map((url) => url.trim())
      .filter((url) => url !== '');
    if (natsUrl.length === 0) throw new InvalidArgumentError('--nats needs at least one URL');
    if (options.store.trim() === '') throw new InvalidArgumentError('--store must not be empty');
    const credentials =
      credentialsDir === undefined
        ? undefined
        : await loadCredentials(credentialsDir, service.name);

    const store: EventStore = new SqliteEventStore({ path: options.store });
    let running: Awaited<ReturnType<ServiceMain['start']>>;
    try {
      running = await service.start({
        natsUrl,
        store,
        credentials,
        credentialsDir,
        flags: options,
        logger: ['error', 'warn'],
      });
    } catch (error) {
      await store.close();
      throw error;
    }
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await running.close();
      await store.close();
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
    const url = running.url === undefined ? '' : ` http=${running.url}`;
    console.log(
      `${service.name} ready pid=${process.pid}${url} nats=${natsUrl.join(',')} store=${options.store}`,
    );
  };

  main().catch((error: unknown) => {
    const coded = error as { code?: unknown; message?: string };
    console.error(
      typeof coded.code === 'string'
        ? `strata-${service.name}: ${coded.code}: ${coded.message}`
        : `strata-${service.name}: ${(error as Error).stack ?? String(error)}`,
    );
    process.exitCode = 1;
  });
}
