import { HISTORY, readReplay, type Moment, type ReplayResult, type TablesView } from '@strata/bus';
import type { EventRef } from '@strata/forwarding';
import type { Command } from 'commander';
import { checkRequest, clientCommand, print, table, type ClientOptions } from './options';
import { withSession } from './session';

type ReplayOptions = ClientOptions & { node: string; at: string };

/**
 * `strata replay --node N --at <position|time>`: the node's full forwarding state then (every
 * table), folded by libs/forwarding from the log, with its digest — the digest an agent
 * reports for its applied tables. Answered by the analytics service (docs/history.md), page
 * by page; every page is fetched before anything is printed.
 */
export function registerReplayCommand(program: Command): void {
  clientCommand(program, 'replay', "a node's full forwarding state at a moment of the log")
    .requiredOption('--node <name>', 'the node')
    .requiredOption('--at <moment>', 'a log position, or an RFC 3339 UTC time')
    .action(async (options: ReplayOptions) => {
      const request = checkRequest(HISTORY.replay, { node: options.node, at: options.at });
      const result = await withSession(options, (session) =>
        readReplay((page) => session.execute(HISTORY.replay, page), request),
      );
      print(options, result, replayText);
    });
}

function replayText(result: ReplayResult): string {
  return [
    `${result.node} at ${momentText(result.at)}: digest ${result.digest}`,
    `(snapshot at position ${result.snapshotPosition}, then ${result.eventsFolded} events folded)`,
    tablesText(result.tables),
  ].join('\n');
}

export function momentText(moment: Moment): string {
  return `position ${moment.position} (${moment.recordedAt})`;
}

/** Every table with entries, one section each: KEY then the entries' fields. */
export function tablesText(tables: TablesView): string {
  return Object.entries(tables)
    .map(([name, rows]) => {
      if (rows.length === 0) return `${name}: (empty)`;
      const fields = Object.keys(rows[0][1]);
      return `${name}:\n${table(
        ['KEY', ...fields.map((field) => field.toUpperCase())],
        rows.map(([key, entry]) => [
          key,
          ...fields.map((field) => String((entry as Record<string, unknown>)[field])),
        ]),
        '',
      )}`;
    })
    .join('\n\n');
}

/** `EndpointMoved endpoint-web@4 #12 by user:alice (corr c-1) at <time>`. */
export function eventText(event: EventRef): string {
  const by = event.actor === '' ? '' : ` by ${event.actor}`;
  const correlation = event.correlationId === '' ? '' : ` corr ${event.correlationId}`;
  return `${event.type} ${event.stream}@${event.revision} pos ${event.position}${by}${correlation} at ${event.recordedAt}`;
}

/** The fields of an entry that differ from another, as `field: a -> b`. */
export function entryChangeText(before: object | null, after: object | null): string {
  if (before === null) return after === null ? '' : fieldsText(after);
  if (after === null) return fieldsText(before);
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((field) => a[field] !== b[field])
    .map((field) => `${field}: ${String(a[field])} -> ${String(b[field])}`)
    .join(', ');
}

function fieldsText(entry: object): string {
  return Object.entries(entry)
    .map(([field, value]) => `${field}=${String(value)}`)
    .join(' ');
}
