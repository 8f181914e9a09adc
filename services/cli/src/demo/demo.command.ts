import { Option, type Command } from 'commander';
import { constants } from 'node:os';
import { describeError } from '../errors';
import { parseNonEmpty } from '../flags';
import type { LabMode } from '../lab/lab-state';
import { DEFAULT_DATA_DIR } from '../server/server-file';
import { DemoInterrupted, runLabDemo } from './lab-demo';
import { runLogDemo } from './log-demo';

/**
 * `strata demo`: the lab demo (a 3-node cluster in network namespaces, traffic between its
 * pods, forwarding tables and counters, then down), and `strata demo log`: the embedded event
 * store's log, appended and replayed.
 */
export function registerDemoCommand(program: Command): void {
  const demo = program
    .command('demo')
    .description(
      'a 3-node lab on the BPF dataplane: pods ping and echo TCP across nodes; ' +
        'forwarding tables, counters; a NetworkPolicy and a staged deny; then down (root)',
    )
    .option('--name <name>', 'the lab (namespaces stl-<name>-*)', parseNonEmpty, 'demo')
    .option(
      '--data-dir <dir>',
      'where lab-<name>/ (state, logs, the server data) lives while the demo runs',
      parseNonEmpty,
      process.env.STRATA_DATA_DIR ?? DEFAULT_DATA_DIR,
    )
    .addOption(
      new Option('--mode <mode>', 'BPF attach mode of the agents')
        .choices(['tc', 'xdp'])
        .default('tc'),
    )
    .action(async (options: { name: string; dataDir: string; mode: LabMode }) => {
      try {
        const failures = await runLabDemo(options, (text) => console.log(text));
        if (failures.length === 0) {
          console.log(
            '\ndemo passed: pods on different nodes reach each other (ping, TCP), every ' +
              "agent's tables match the log, db takes TCP/5432 from api only, a staged deny " +
              'counted what it would deny and blocked nothing, the lab is down',
          );
        } else {
          console.log(`\ndemo FAILED: ${failures.join('; ')}`);
          process.exitCode = 1;
        }
      } catch (error) {
        if (!(error instanceof DemoInterrupted)) throw error;
        console.error(describeError(error));
        process.exitCode = 128 + constants.signals[error.signal];
      }
    });

  demo
    .command('log')
    .description('append a few network events to the embedded store and replay the log as a table')
    // Its own file: the demo's hand-written events must never mix with `strata server`'s log.
    .option('--store <path>', 'SQLite event store file', parseNonEmpty, '.strata/demo.db')
    .action(async (options: { store: string }) => {
      await runLogDemo({ store: options.store }, (text) => console.log(text));
    });
}
