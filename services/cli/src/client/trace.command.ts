import { HISTORY, type TraceReply, type TraceRequest } from '@strata/bus';
import type { Command } from 'commander';
import { parseTarget } from './explain.command';
import { checkRequest, clientCommand, print, table, type ClientOptions } from './options';
import { momentText } from './replay.command';
import { withSession } from './session';

type TraceOptions = ClientOptions & { from: string; to: string; at?: string; protocol: string };

/**
 * `strata trace --from <endpoint> --to <endpoint|vip>:<port> [--at T]`: the packet's walk —
 * anti-spoofing, identity, egress policy, encapsulation to which VTEP, decapsulation, ingress
 * policy — delivered or dropped, and why (docs/history.md).
 */
export function registerTraceCommand(program: Command): void {
  clientCommand(program, 'trace', "a packet's walk through the forwarding state at a moment")
    .requiredOption('--from <endpoint>', 'the source endpoint (address or uid)')
    .requiredOption('--to <endpoint:port>', 'the destination (address or uid) and port')
    .option('--at <moment>', 'a log position, or an RFC 3339 UTC time (default: now)')
    .option('--protocol <protocol>', 'TCP, UDP, SCTP or ICMP', 'TCP')
    .action(async (options: TraceOptions) => {
      const { endpoint, port } = parseTarget(options.to);
      const request = checkRequest(HISTORY.trace, {
        from: options.from,
        to: endpoint,
        port,
        protocol: options.protocol as TraceRequest['protocol'],
        ...(options.at === undefined ? {} : { at: options.at }),
      });
      const result = await withSession(options, (session) =>
        session.execute(HISTORY.trace, request),
      );
      print(options, result, traceText);
    });
}

function traceText(result: TraceReply): string {
  return [
    `${result.source} -> ${result.destination} ${result.protocol}/${result.port} at ${momentText(result.at)}`,
    table(
      ['STEP', 'NODE', 'RESULT', 'DETAIL'],
      result.steps.map((step) => [step.step, step.node, step.result, step.detail]),
      '(no steps)',
    ),
    result.outcome === 'delivered' ? 'DELIVERED' : `DROPPED: ${result.reason}`,
  ].join('\n');
}
