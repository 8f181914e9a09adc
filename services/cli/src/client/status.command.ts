import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { CliError } from '../errors';
import { parseNonEmpty } from '../flags';
import { DEFAULT_DATA_DIR, readServerInfo, serverFilePath } from '../server/server-file';
import type { ReadinessReport } from '../server/runtime';
import { print, table, type OutputFormat } from './options';

/** `strata status`: the running server's readiness, component by component (its /readyz). */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('readiness of the running strata server, component by component')
    .option(
      '--data-dir <dir>',
      "the server's data directory",
      parseNonEmpty,
      process.env.STRATA_DATA_DIR ?? DEFAULT_DATA_DIR,
    )
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json'])
        .default('table'),
    )
    .action(async (options: { dataDir: string; output: OutputFormat }) => {
      const dataDir = resolve(options.dataDir);
      const info = await readServerInfo(dataDir);
      if (info === undefined) {
        throw new CliError(
          'NotRunning',
          `no strata server found (${serverFilePath(dataDir)} is missing): start one with \`strata server --data-dir ${dataDir}\``,
        );
      }
      let report: ReadinessReport;
      try {
        const response = await fetch(`${info.healthUrl}/readyz`, {
          signal: AbortSignal.timeout(5_000),
        });
        report = (await response.json()) as ReadinessReport;
      } catch (error) {
        throw new CliError(
          'NotRunning',
          `the strata server of ${dataDir} (pid ${info.pid}) does not answer at ${info.healthUrl} (${(error as Error).message})`,
        );
      }
      const status = { pid: info.pid, natsUrl: info.natsUrl, healthUrl: info.healthUrl, ...report };
      print({ output: options.output }, status, (s) =>
        [
          `server pid ${s.pid}, NATS ${s.natsUrl}: ${s.ready ? 'ready' : `not ready (${s.notReady.join(', ')})`}`,
          table(
            ['COMPONENT', 'READY', 'DETAIL'],
            s.checks.map((check) => [check.name, check.ready ? 'yes' : 'no', check.detail]),
            '(no components running yet)',
          ),
        ].join('\n'),
      );
      if (!report.ready) {
        throw new CliError('NotReady', `not ready: ${report.notReady.join(', ')}`);
      }
    });
}
