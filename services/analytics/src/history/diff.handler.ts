import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type DiffPage,
  type DiffRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.diff`: a node's entries added, removed and changed between two moments, each with the events that caused it, page by page. */
@Controller()
export class DiffHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.diff)
  handle(@CommandBody(HISTORY.diff) request: CommandRequest<DiffRequest>): Promise<DiffPage> {
    return this.history.diff(
      request.data.node,
      request.data.from,
      request.data.to,
      request.data.after,
    );
  }
}
