import { Injectable, type PipeTransform } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { parseCommand, type CommandRequest, type CommandSpec } from '../commands/protocol';

/** Validates the request body as the envelope around `spec`'s data (strict; see schema.ts). */
@Injectable()
export class CommandPipe<Request> implements PipeTransform<unknown, CommandRequest<Request>> {
  constructor(private readonly spec: Pick<CommandSpec<Request, unknown>, 'request'>) {}

  transform(body: unknown): CommandRequest<Request> {
    return parseCommand(this.spec, body);
  }
}

/** Marks a controller method as the handler of `spec`'s subject (request/reply). */
export function CommandHandler(spec: CommandSpec<unknown, unknown>): MethodDecorator {
  return MessagePattern(spec.subject);
}

/** The validated request of `spec`: `handle(@CommandBody(SPEC) request: CommandRequest<...>)`. */
export function CommandBody<Request>(spec: CommandSpec<Request, unknown>): ParameterDecorator {
  return Payload(new CommandPipe(spec));
}

/** The metadata every event a command appends carries, from its request envelope. */
export function commandMeta(request: CommandRequest<unknown>): {
  commandId: string;
  actor: string;
  correlationId: string;
} {
  return {
    commandId: request.commandId,
    actor: request.actor,
    correlationId: request.correlationId,
  };
}
