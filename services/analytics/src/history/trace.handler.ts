import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type TraceReply,
  type TraceRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.trace`: a packet's walk from one endpoint to another at a moment, delivered or dropped and why. */
@Controller()
export class TraceHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.trace)
  handle(@CommandBody(HISTORY.trace) request: CommandRequest<TraceRequest>): Promise<TraceReply> {
    return this.history.trace(request.data);
  }
}
