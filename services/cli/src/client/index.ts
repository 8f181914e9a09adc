import type { Command } from 'commander';
import { registerConfigCommands } from './config.command';
import { registerIpamCommands } from './ipam.command';
import { registerPoolsCommands } from './pools.command';
import { registerPropagationCommand } from './propagation.command';
import { registerStatusCommand } from './status.command';

/**
 * The commands that talk to a running server. Each resource has its own file that registers its
 * subcommands with `clientCommand` (shared flags and output) and calls services through
 * `withSession` with the contract in libs/bus/src/commands (ipam.ts, config.ts, analytics.ts).
 * A new service's resources are added here the same way.
 */
export function registerClientCommands(program: Command): void {
  registerPoolsCommands(program);
  registerIpamCommands(program);
  registerConfigCommands(program);
  registerPropagationCommand(program);
  registerStatusCommand(program);
}
