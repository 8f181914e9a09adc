import type { Command } from 'commander';
import { registerConfigCommands } from './config.command';
import { registerDiffCommand } from './diff.command';
import { registerExplainCommands } from './explain.command';
import { registerExportCommand } from './export.command';
import { registerHistoryCommands } from './history.command';
import { registerReplayCommand } from './replay.command';
import { registerSandboxCommand } from './sandbox.command';
import { registerTraceCommand } from './trace.command';
import { registerIpamCommands } from './ipam.command';
import { registerPolicyCommands } from './policy.command';
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
  registerPolicyCommands(program);
  registerPropagationCommand(program);
  registerStatusCommand(program);
  registerReplayCommand(program);
  registerDiffCommand(program);
  registerExplainCommands(program);
  registerTraceCommand(program);
  registerHistoryCommands(program);
  registerExportCommand(program);
  registerSandboxCommand(program);
}
