import {
  HISTORY,
  type ExplainRouteResult,
  type ExplainVerdictResult,
  type ExplainVerdictRequest,
} from '@strata/bus';
import { describeVerdict } from '@strata/forwarding';
import type { Command } from 'commander';
import { CliError } from '../errors';
import { checkRequest, clientCommand, print, table, type ClientOptions } from './options';
import { entryChangeText, eventText, momentText } from './replay.command';
import { withSession } from './session';

type RouteOptions = ClientOptions & { node: string; at: string };
type VerdictOptions = ClientOptions & { at: string; protocol: string };

/**
 * `strata explain route <ip> --node N --at T`: the node's entries for the address, every event
 * that changed them (actor, correlation id) and the events behind their facts.
 * `strata explain verdict <src> <dst>:<port> --at T`: the policy verdict then, per direction
 * (rule, tier, policy and its revision), and the events that wrote them (docs/history.md).
 */
export function registerExplainCommands(program: Command): void {
  const explain = program
    .command('explain')
    .description('the event lineage behind a forwarding entry or a policy verdict');
  clientCommand(explain, 'route', 'the events behind the entry for an address on a node')
    .argument('<ip>', 'the address')
    .requiredOption('--node <name>', 'the node')
    .requiredOption('--at <moment>', 'a log position, or an RFC 3339 UTC time')
    .action(async (ip: string, options: RouteOptions) => {
      const request = checkRequest(HISTORY.explainRoute, {
        node: options.node,
        ip,
        at: options.at,
      });
      const result = await withSession(options, (session) =>
        session.execute(HISTORY.explainRoute, request),
      );
      print(options, result, routeText);
    });
  clientCommand(explain, 'verdict', 'the policy verdict between two endpoints, and its lineage')
    .argument('<source>', 'the source endpoint (address or uid)')
    .argument('<destination:port>', 'the destination endpoint (address or uid) and port')
    .requiredOption('--at <moment>', 'a log position, or an RFC 3339 UTC time')
    .option('--protocol <protocol>', 'TCP, UDP, SCTP or ICMP', 'TCP')
    .action(async (source: string, target: string, options: VerdictOptions) => {
      const { endpoint, port } = parseTarget(target);
      const request = checkRequest(HISTORY.explainVerdict, {
        source,
        destination: endpoint,
        port,
        protocol: options.protocol as ExplainVerdictRequest['protocol'],
        at: options.at,
      });
      const result = await withSession(options, (session) =>
        session.execute(HISTORY.explainVerdict, request),
      );
      print(options, result, verdictText);
    });
}

/** `<endpoint>:<port>` -> its parts; InvalidArgument for anything else. */
export function parseTarget(value: string): { endpoint: string; port: number } {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !/^[0-9]{1,5}$/.test(value.slice(colon + 1)) || port > 65_535) {
    throw new CliError(
      'InvalidArgument',
      `expected <endpoint>:<port>, got ${JSON.stringify(value)}`,
    );
  }
  return { endpoint: value.slice(0, colon), port };
}

function routeText(result: ExplainRouteResult): string {
  return [
    `${result.ip} on ${result.node} at ${momentText(result.at)}`,
    table(
      ['TABLE', 'ENTRY'],
      result.entries.map(({ table: name, entry }) => [name, entryChangeText(null, entry)]),
      '(no entry at that moment)',
    ),
    'history:',
    table(
      ['TABLE', 'CHANGE', 'ENTRY', 'EVENT'],
      result.history.map((change) => [
        change.table,
        change.kind,
        entryChangeText(change.before, change.after),
        eventText(change.event),
      ]),
      '(none)',
    ),
    'facts from:',
    result.sources.map((event) => `  ${eventText(event)}`).join('\n') || '  (none)',
  ].join('\n');
}

function verdictText(result: ExplainVerdictResult): string {
  const { evaluation } = result;
  const line = (what: string, event: ExplainVerdictResult['egressPolicyEvent']) =>
    event === null ? `${what}: -` : `${what}: ${eventText(event)}`;
  return [
    `${result.source} -> ${result.destination} ${result.protocol}/${result.port} at ${momentText(result.at)}: ${evaluation.verdict.toUpperCase()}`,
    `identities ${evaluation.sourceIdentity} -> ${evaluation.destinationIdentity}`,
    `egress:  ${describeVerdict(evaluation.egress)}`,
    `ingress: ${describeVerdict(evaluation.ingress)}`,
    `staged:  ${evaluation.staged.verdict}`,
    line('egress policy written by', result.egressPolicyEvent),
    line('ingress policy written by', result.ingressPolicyEvent),
    line('source identity from', result.sourceIdentityEvent),
    line('destination identity from', result.destinationIdentityEvent),
  ].join('\n');
}
