import { HISTORY, type HoldersResult } from '@strata/bus';
import type { Command } from 'commander';
import { CliError } from '../errors';
import { checkIp, clientCommand, print, table, type ClientOptions } from './options';
import { withSession } from './session';

/**
 * `strata history ip <ip>` and `strata history identity <n>`: who held it, from which event to
 * which (docs/history.md).
 */
export function registerHistoryCommands(program: Command): void {
  const history = program
    .command('history')
    .description('who held an address or an identity, and when');
  clientCommand(history, 'ip', 'the endpoints that held an address')
    .argument('<ip>', 'the address')
    .action(async (ip: string, options: ClientOptions) => {
      checkIp(ip, 'address');
      await holders(options, { ip });
    });
  clientCommand(history, 'identity', 'the endpoints that held a numeric identity')
    .argument('<n>', 'the identity')
    .action(async (value: string, options: ClientOptions) => {
      const identity = Number(value);
      if (!/^[0-9]{1,10}$/.test(value) || identity > 0xffffffff) {
        throw new CliError(
          'InvalidArgument',
          `an identity is a number, got ${JSON.stringify(value)}`,
        );
      }
      await holders(options, { identity });
    });
}

async function holders(options: ClientOptions, query: { ip?: string; identity?: number }) {
  const result = await withSession(options, (session) => session.execute(HISTORY.holders, query));
  print(options, result, holdersText);
}

function holdersText(result: HoldersResult): string {
  return table(
    ['UID', 'IP', 'NODE', 'IDENTITY', 'FROM', 'BY', 'UNTIL', 'ENDED BY'],
    result.tenures.map((tenure) => [
      tenure.uid,
      tenure.ip,
      tenure.node === '' ? '(external)' : tenure.node,
      tenure.identity === null ? '-' : String(tenure.identity),
      `${tenure.from.recordedAt} (pos ${tenure.from.position})`,
      `${tenure.from.type} ${tenure.from.actor}`.trim(),
      tenure.until === null ? 'now' : `${tenure.until.recordedAt} (pos ${tenure.until.position})`,
      tenure.until === null ? '-' : `${tenure.until.type} ${tenure.until.actor}`.trim(),
    ]),
    '(nobody)',
  );
}
