import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_SQLITE_PATH, EventStoreError } from '@strata/eventstore';
import { runDemo } from './demo/demo.command';

const program = new Command('strata')
  .description('Strata: an event-sourced control plane for container overlay networks')
  .showHelpAfterError();

program
  .command('demo')
  .description('append a few network events to the embedded store and replay the log as a table')
  .option('--store <path>', 'SQLite event store file', DEFAULT_SQLITE_PATH)
  .action(async (options: { store: string }) => {
    await runDemo({ store: nonEmpty(options.store, '--store') }, (text) => console.log(text));
  });

function nonEmpty(value: string, flag: string): string {
  if (value.trim() === '') {
    throw new InvalidArgumentError(`${flag} must not be empty`);
  }
  return value;
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof EventStoreError || error instanceof InvalidArgumentError) {
    console.error(`strata: ${error.code}: ${error.message}`);
  } else {
    console.error(`strata: ${(error as Error).stack ?? String(error)}`);
  }
  process.exitCode = 1;
});
