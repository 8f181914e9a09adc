import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type ReplayPage,
  type ReplayRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.replay`: a node's full forwarding state at a moment, page by page, and its digest. */
@Controller()
export class ReplayHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.replay)
  handle(@CommandBody(HISTORY.replay) request: CommandRequest<ReplayRequest>): Promise<ReplayPage> {
    return this.history.replay(request.data.node, request.data.at, request.data.after);
  }
}
