import { HISTORY, readDiff, type DiffResult } from '@strata/bus';
import type { Command } from 'commander';
import { checkRequest, clientCommand, print, table, type ClientOptions } from './options';
import { entryChangeText, eventText, momentText } from './replay.command';
import { withSession } from './session';

type DiffOptions = ClientOptions & { node: string; from: string; to: string };

/**
 * `strata diff --node N --from T1 --to T2`: the node's entries added, removed and changed
 * between two moments, each with the events that caused it (docs/history.md).
 */
export function registerDiffCommand(program: Command): void {
  clientCommand(
    program,
    'diff',
    "what changed in a node's forwarding state between two moments, and why",
  )
    .requiredOption('--node <name>', 'the node')
    .requiredOption('--from <moment>', 'a log position, or an RFC 3339 UTC time')
    .requiredOption('--to <moment>', 'a log position, or an RFC 3339 UTC time')
    .action(async (options: DiffOptions) => {
      const request = checkRequest(HISTORY.diff, {
        node: options.node,
        from: options.from,
        to: options.to,
      });
      const result = await withSession(options, (session) =>
        readDiff((page) => session.execute(HISTORY.diff, page), request),
      );
      print(options, result, diffText);
    });
}

function diffText(result: DiffResult): string {
  return [
    `${result.node} from ${momentText(result.from)} to ${momentText(result.to)}`,
    `digest ${result.digestFrom} -> ${result.digestTo}`,
    table(
      ['TABLE', 'KEY', 'CHANGE', 'ENTRY', 'CAUSED BY'],
      result.changes.flatMap((change) =>
        change.causes.length === 0
          ? [
              [
                change.table,
                change.key,
                change.kind,
                entryChangeText(change.before, change.after),
                '-',
              ],
            ]
          : change.causes.map((cause, i) =>
              i === 0
                ? [
                    change.table,
                    change.key,
                    change.kind,
                    entryChangeText(change.before, change.after),
                    eventText(cause),
                  ]
                : ['', '', '', '', eventText(cause)],
            ),
      ),
      '(no changes)',
    ),
  ].join('\n');
}
