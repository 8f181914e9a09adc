import { assertId, parseCidr, parseIpv4 } from '@strata/domain';
import type { CommandSpec } from '@strata/bus';
import { Option, type Command } from 'commander';
import { parseNatsUrls, parseNonEmpty } from '../flags';
import { DEFAULT_DATA_DIR } from '../server/server-file';
import { renderTable } from '../output/table';

/**
 * What every client command shares: where the server is (`--data-dir`, `--nats`), how to print
 * (`-o table|json`), and the checks that reject a bad value before any request is sent.
 */

export type OutputFormat = 'table' | 'json';

export interface TargetOptions {
  readonly dataDir: string;
  readonly nats?: string[];
}

export interface ClientOptions extends TargetOptions {
  readonly output: OutputFormat;
}

/** A subcommand of `parent` with the shared options. */
export function clientCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .option(
      '--data-dir <dir>',
      "the server's data directory (server.json, credentials)",
      parseNonEmpty,
      process.env.STRATA_DATA_DIR ?? DEFAULT_DATA_DIR,
    )
    .option(
      '--nats <urls>',
      'NATS URL(s) (default: the running server of --data-dir)',
      parseNatsUrls,
    )
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json'])
        .default('table'),
    );
}

/** Prints `data` as JSON, or as the table `toTable` makes of it. */
export function print<T>(
  options: { readonly output: OutputFormat },
  data: T,
  toTable: (data: T) => string,
): void {
  console.log(options.output === 'json' ? JSON.stringify(data, null, 2) : toTable(data));
}

/** A table, or `empty` when there are no rows. */
export function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  empty: string,
): string {
  return rows.length === 0 ? empty : renderTable(headers, rows);
}

// Checks with the domain's own validators: the same rules, codes and messages as the services.

export function checkName(value: unknown, what: string): string {
  return assertId(value, what);
}

export function checkIp(value: unknown, what: string): string {
  parseIpv4(value, what);
  return value as string;
}

export function checkCidr(value: unknown, what: string): string {
  parseCidr(value, what);
  return value as string;
}

/**
 * Checks `data` with the contract's own request schema (the service runs the same check), so a
 * bad value fails with the service's code before anything is sent. Returns `data` unchanged:
 * the service parses it again.
 */
export function checkRequest<Request>(spec: CommandSpec<Request, unknown>, data: Request): Request {
  spec.request.parse(data, 'data');
  return data;
}
