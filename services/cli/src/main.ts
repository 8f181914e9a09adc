import { Command, CommanderError } from 'commander';
import { registerAgentCommand } from './agent/agent.command';
import { registerClientCommands } from './client';
import { registerDemoCommand } from './demo/demo.command';
import { describeError, formatCommanderOutput } from './errors';
import { registerLabCommand } from './lab/lab.command';
import { registerServerCommand } from './server/server.command';
import { registerServiceCommand } from './server/service.command';

// Set before any subcommand is added: subcommands copy these settings from their parent.
const program = new Command('strata')
  .description('Strata: an event-sourced control plane for container overlay networks')
  .exitOverride()
  .configureOutput({
    outputError: (text, write) => write(formatCommanderOutput(text)),
  })
  .showHelpAfterError('(add --help for usage)');

registerDemoCommand(program);
registerServerCommand(program);
registerServiceCommand(program);
registerAgentCommand(program);
registerClientCommands(program);
registerLabCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has printed its message (help, version, or the error in the CLI's format).
    process.exitCode = error.exitCode;
    return;
  }
  console.error(describeError(error));
  process.exitCode = 1;
});
