import {
  ANALYTICS,
  MAX_RECENT_PROPAGATION,
  type EventPropagation,
  type PropagationSummary,
  type RecentPropagation,
} from '@strata/bus';
import type { Command } from 'commander';
import { CliError } from '../errors';
import { checkRequest, clientCommand, print, table, type ClientOptions } from './options';
import { withSession } from './session';

type PropagationOptions = ClientOptions & { last?: string };

/**
 * `strata propagation <event-id>`: when each node applied one event, and how long after it was
 * recorded. `strata propagation --last N`: the last N events of the log with their ids (what
 * to pass), each with its summary, and p50/p99/max over them. Answered by the analytics
 * service (libs/bus/src/commands/analytics.ts).
 */
export function registerPropagationCommand(program: Command): void {
  clientCommand(
    program,
    'propagation',
    'when each node applied an event, and how long after it was recorded (--last N: the latest events)',
  )
    .argument('[event-id]', 'the event id (`--last N` lists the latest ones)')
    .option('--last <n>', `the last N events of the log (1-${MAX_RECENT_PROPAGATION})`)
    .action(async (eventId: string | undefined, options: PropagationOptions) => {
      if ((eventId === undefined) === (options.last === undefined)) {
        throw new CliError('InvalidArgument', 'give an event id, or --last N (not both)');
      }
      if (eventId !== undefined) {
        const request = checkRequest(ANALYTICS.propagation, { eventId });
        const result = await withSession(options, (session) =>
          session.execute(ANALYTICS.propagation, request),
        );
        print(options, result, eventTable);
      } else {
        const request = { last: lastCount(options.last!) };
        const result = await withSession(options, (session) =>
          session.execute(ANALYTICS.recentPropagation, request),
        );
        print(options, result, recentTable);
      }
    });
}

function eventTable(result: EventPropagation): string {
  return [
    `${result.type} on ${result.stream} (position ${result.position}), recorded at ${result.recordedAt}`,
    table(
      ['NODE', 'STATUS', 'APPLIED AT', 'AFTER MS'],
      result.nodes.map((row) =>
        row.status === 'applied'
          ? [row.node, row.status, row.appliedAt, ms(row.afterMs)]
          : [row.node, row.status, '-', '-'],
      ),
      '(no nodes)',
    ),
    summaryLine(result.summary),
  ].join('\n');
}

function recentTable(result: RecentPropagation): string {
  return [
    table(
      ['POSITION', 'EVENT ID', 'TYPE', 'STREAM', 'RECORDED AT', 'APPLIED', 'MAX MS'],
      result.events.map((event) => [
        String(event.position),
        event.eventId,
        event.type,
        event.stream,
        event.recordedAt,
        `${event.summary.applied}/${nodeCount(event.summary)}`,
        ms(event.summary.maxMs),
      ]),
      '(no events tracked yet)',
    ),
    `${result.summary.events} events: ${summaryLine(result.summary)}`,
  ].join('\n');
}

function summaryLine(summary: PropagationSummary): string {
  return (
    `applied ${summary.applied}, pending ${summary.pending}, down ${summary.down}; ` +
    `after ms p50 ${ms(summary.p50Ms)}, p99 ${ms(summary.p99Ms)}, max ${ms(summary.maxMs)}`
  );
}

const nodeCount = (summary: PropagationSummary) => summary.applied + summary.pending + summary.down;

const ms = (value: number | null) => (value === null ? '-' : String(value));

function lastCount(value: string): number {
  const count = Number(value);
  if (!/^[0-9]+$/.test(value) || count < 1 || count > MAX_RECENT_PROPAGATION) {
    throw new CliError(
      'InvalidArgument',
      `--last must be an integer from 1 to ${MAX_RECENT_PROPAGATION}, got ${value}`,
    );
  }
  return count;
}
