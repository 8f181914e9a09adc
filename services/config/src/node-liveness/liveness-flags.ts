import { InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_NODE_LIVENESS,
  nodeLivenessSettings,
  type NodeLivenessSettings,
} from './node-liveness';

/**
 * The node liveness flags, one definition for every command that starts the config service
 * (its own main, `strata server`, `strata service config`):
 *
 *   --node-timeout-ms <ms>          mark a node down after this long without a heartbeat
 *                                   (default 40000; 0: no watchdog)
 *   --heartbeat-resolution-ms <ms>  record at most one heartbeat per node per period (10000)
 *   --liveness-check-ms <ms>        how often the watchdog looks (1000)
 *
 * Each is a whole number of milliseconds; `nodeLivenessFromFlags` checks them together (the
 * timeout above the resolution, ...).
 */
export function nodeLivenessOptions(): Option[] {
  return [
    new Option(
      '--node-timeout-ms <ms>',
      'mark a node down after this long without a heartbeat (0: no watchdog)',
    )
      .argParser(parseMillis)
      .default(DEFAULT_NODE_LIVENESS.timeoutMs),
    new Option(
      '--heartbeat-resolution-ms <ms>',
      'record at most one heartbeat per node per this period (below the timeout)',
    )
      .argParser(parseMillis)
      .default(DEFAULT_NODE_LIVENESS.resolutionMs),
    new Option('--liveness-check-ms <ms>', 'how often the watchdog looks for silent nodes')
      .argParser(parseMillis)
      .default(DEFAULT_NODE_LIVENESS.checkIntervalMs),
  ];
}

/** Flags as commander parses them (camel case), the liveness ones among them. */
export interface NodeLivenessFlags {
  readonly nodeTimeoutMs?: unknown;
  readonly heartbeatResolutionMs?: unknown;
  readonly livenessCheckMs?: unknown;
}

/** The settings the flags give; throws ConfigStartError (InvalidArgument) when they do not fit. */
export function nodeLivenessFromFlags(flags: NodeLivenessFlags): NodeLivenessSettings {
  return nodeLivenessSettings({
    timeoutMs: flags.nodeTimeoutMs as number | undefined,
    resolutionMs: flags.heartbeatResolutionMs as number | undefined,
    checkIntervalMs: flags.livenessCheckMs as number | undefined,
  });
}

function parseMillis(value: string): number {
  if (!/^[0-9]{1,10}$/.test(value)) {
    throw new InvalidArgumentError('expected a whole number of milliseconds');
  }
  return Number(value);
}
